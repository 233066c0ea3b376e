"""Users, API tokens and console sessions. Passwords are argon2 hashes; tokens are stored hashed."""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import api_tokens, sessions, users

_hasher = PasswordHasher()
# Names appear in URLs, audit targets and logs: lower-case letters, digits, '.', '_' and '-' only.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
NAME_RULE = "1–64 characters: lower-case letters a–z, digits, '.', '_' or '-', starting with a letter or digit"
MIN_PASSWORD = 10
# The hash stored for someone who has not set a password yet (or whose credentials were reset).
UNUSABLE = "!unset"


def name_problem(name: str) -> str | None:
    return None if NAME_PATTERN.match(name) else f"user name {name[:80]!r} is not allowed: {NAME_RULE}"


def password_problem(password: str, name: str = "") -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password is too short: use at least {MIN_PASSWORD} characters"
    if len(password) > 1024:
        return "the password is too long: use at most 1024 characters"
    if name and name.lower() in password.lower():
        return "the password must not contain the user name"
    return None


@functools.cache
def _dummy_hash() -> str:
    """A real argon2 hash of nothing anyone knows, with the same cost as the real ones."""
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(stored: str | None, password: str) -> bool:
    """One argon2 verification whatever `stored` is, so the time taken tells nothing about the account."""
    usable = bool(stored) and stored.startswith("$argon2")  # type: ignore[union-attr]
    try:
        _hasher.verify(stored if usable else _dummy_hash(), password)  # type: ignore[arg-type]
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return usable


@dataclass(frozen=True)
class User:
    id: int
    name: str
    roles: tuple[str, ...]
    disabled: bool
    display_name: str = ""
    phone: str | None = None

    def has(self, role: str) -> bool:
        return role in self.roles


def _user(row: object) -> User:
    return User(
        id=row.id,  # type: ignore[attr-defined]
        name=row.name,  # type: ignore[attr-defined]
        roles=tuple(r for r in row.roles.split(",") if r),  # type: ignore[attr-defined]
        disabled=row.disabled,  # type: ignore[attr-defined]
        display_name=row.display_name,  # type: ignore[attr-defined]
        phone=row.phone,  # type: ignore[attr-defined]
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def add(conn: AsyncConnection, name: str, roles: list[str], password: str | None, *, at: datetime,
              display_name: str = "", phone: str | None = None, password_hash: str | None = None) -> User:
    """Add a user. Without a password the account waits for its owner to enrol (set their own).

    `password_hash` (an argon2 hash of `password`) saves hashing again (tests, imports).
    """
    problem = name_problem(name)
    if problem:
        raise ValueError(problem)
    stored = password_hash or (hash_password(password) if password is not None else UNUSABLE)
    result = await conn.execute(
        users.insert().values(
            name=name, display_name=display_name, password_hash=stored, roles=",".join(roles), phone=phone,
            disabled=False, created_at=at, must_change_password=password is None and password_hash is None,
        )
    )
    return User(id=int(result.inserted_primary_key[0]), name=name, roles=tuple(roles), disabled=False,
                display_name=display_name, phone=phone)


async def by_name(conn: AsyncConnection, name: str) -> User | None:
    row = (await conn.execute(select(users).where(users.c.name == name))).first()
    return _user(row) if row else None


async def by_id(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
    return _user(row) if row else None


async def all_users(conn: AsyncConnection) -> list[User]:
    return [_user(r) for r in await conn.execute(select(users).order_by(users.c.name))]


async def set_disabled(conn: AsyncConnection, name: str, disabled: bool) -> bool:
    """Disabling ends every session and revokes every token for good: enabling again restores none."""
    result = await conn.execute(update(users).where(users.c.name == name).values(disabled=disabled))
    if disabled:
        row = (await conn.execute(select(users.c.id).where(users.c.name == name))).first()
        if row:
            await end_sessions(conn, row.id)
            await revoke_tokens(conn, row.id)
    return bool(result.rowcount)


async def set_roles(conn: AsyncConnection, user_id: int, roles: list[str]) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(roles=",".join(roles)))


async def set_profile(conn: AsyncConnection, user_id: int, *, display_name: str, phone: str | None) -> None:
    await conn.execute(update(users).where(users.c.id == user_id).values(display_name=display_name, phone=phone))


async def set_password(conn: AsyncConnection, user_id: int, password: str) -> None:
    await conn.execute(update(users).where(users.c.id == user_id)
                       .values(password_hash=hash_password(password), must_change_password=False))


async def clear_password(conn: AsyncConnection, user_id: int) -> None:
    """Credentials reset: the old password stops working; the owner sets a new one by enrolment."""
    await conn.execute(update(users).where(users.c.id == user_id)
                       .values(password_hash=UNUSABLE, must_change_password=True))


async def enrolled(conn: AsyncConnection, user_id: int) -> bool:
    row = (await conn.execute(select(users.c.password_hash).where(users.c.id == user_id))).first()
    return bool(row and row.password_hash.startswith("$argon2"))


@dataclass
class LoginOutcome:
    user: User | None
    reason: str = ""  # why it failed, for the log; the person sees one generic message


async def check_login(conn: AsyncConnection, name: str, password: str) -> LoginOutcome:
    """Verify a password with the same work whether the user exists, is disabled or has no password yet.

    Throttling of wrong passwords is the caller's (alerts/security/throttle.py): it never locks.
    """
    row = (await conn.execute(select(users).where(users.c.name == name))).first() if len(name) <= 100 else None
    ok = verify_password(row.password_hash if row is not None else None, password)
    if row is None:
        return LoginOutcome(None, "unknown user")
    if row.disabled:
        return LoginOutcome(None, "disabled")
    if not ok:
        return LoginOutcome(None, "not enrolled" if not row.password_hash.startswith("$argon2") else "wrong password")
    return LoginOutcome(_user(row))


async def create_token(conn: AsyncConnection, user: User, name: str, *, at: datetime) -> str:
    token = "alt_" + secrets.token_urlsafe(32)
    await conn.execute(
        api_tokens.insert().values(user_id=user.id, name=name, token_hash=token_hash(token), created_at=at)
    )
    return token


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user_id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


async def user_for_token(conn: AsyncConnection, token: str) -> User | None:
    found = await token_lookup(conn, token)
    return found[0] if found else None


async def token_lookup(conn: AsyncConnection, token: str) -> tuple[User, TokenInfo] | None:
    """The active user and the token's record, for a token that is neither revoked nor its user disabled."""
    row = (
        await conn.execute(
            select(users, api_tokens.c.id.label("token_id"), api_tokens.c.name.label("token_name"),
                   api_tokens.c.created_at.label("token_created_at"), api_tokens.c.last_used_at)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(and_(api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked.is_(False)))
        )
    ).first()
    if row is None or row.disabled:
        return None
    info = TokenInfo(row.token_id, row.id, row.token_name, row.token_created_at, row.last_used_at, False)
    return _user(row), info


async def mark_token_used(conn: AsyncConnection, token_id: int, at: datetime) -> None:
    await conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=at))


async def tokens_of(conn: AsyncConnection, user_id: int) -> list[TokenInfo]:
    rows = await conn.execute(select(api_tokens).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id))
    return [TokenInfo(r.id, r.user_id, r.name, r.created_at, r.last_used_at, r.revoked) for r in rows]


async def revoke_token(conn: AsyncConnection, token_id: int, *, user_id: int | None = None) -> bool:
    """Revoke one token (of `user_id` only, when given); False when there is no such active token."""
    query = update(api_tokens).where(and_(api_tokens.c.id == token_id, api_tokens.c.revoked.is_(False)))
    if user_id is not None:
        query = query.where(api_tokens.c.user_id == user_id)
    return bool((await conn.execute(query.values(revoked=True))).rowcount)


async def revoke_tokens(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(update(api_tokens).where(and_(api_tokens.c.user_id == user_id,
                                                              api_tokens.c.revoked.is_(False))).values(revoked=True))
    return int(result.rowcount or 0)


async def create_session(conn: AsyncConnection, user: User, *, at: datetime) -> tuple[str, str]:
    """Return (cookie value, CSRF token); only the cookie's hash is stored."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    await conn.execute(
        sessions.insert().values(id_hash=token_hash(cookie), user_id=user.id, csrf_token=csrf,
                                 created_at=at, last_seen_at=at)
    )
    return cookie, csrf


@dataclass
class Session:
    user: User
    csrf: str
    id_hash: str
    last_seen_at: datetime
    created_at: datetime | None = None


async def session(conn: AsyncConnection, cookie: str) -> Session | None:
    row = (
        await conn.execute(
            select(sessions, users, sessions.c.created_at.label("session_created_at"))
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id_hash == token_hash(cookie))
        )
    ).first()
    if row is None or row.disabled:
        return None
    return Session(user=_user(row), csrf=row.csrf_token, id_hash=row.id_hash, last_seen_at=row.last_seen_at,
                   created_at=row.session_created_at)


async def touch_session(conn: AsyncConnection, id_hash: str, at: datetime) -> None:
    await conn.execute(update(sessions).where(sessions.c.id_hash == id_hash).values(last_seen_at=at))


async def end_session(conn: AsyncConnection, id_hash: str) -> None:
    await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))


async def end_sessions(conn: AsyncConnection, user_id: int, *, keep: str | None = None) -> int:
    """Sign the user out everywhere (except the session `keep`, by its hash)."""
    query = delete(sessions).where(sessions.c.user_id == user_id)
    if keep is not None:
        query = query.where(sessions.c.id_hash != keep)
    return int((await conn.execute(query)).rowcount or 0)
