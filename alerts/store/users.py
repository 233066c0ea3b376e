"""Users, API tokens and console sessions. Passwords are argon2 hashes; tokens are stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import api_tokens, sessions, users

_hasher = PasswordHasher()


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


async def add(conn: AsyncConnection, name: str, roles: list[str], password: str, *, at: datetime,
              display_name: str = "", phone: str | None = None, password_hash: str | None = None) -> User:
    """Add a user; `password_hash` (an argon2 hash of `password`) saves hashing again (tests, imports)."""
    result = await conn.execute(
        users.insert().values(
            name=name, display_name=display_name, password_hash=password_hash or hash_password(password),
            roles=",".join(roles), phone=phone, disabled=False, created_at=at,
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
    result = await conn.execute(update(users).where(users.c.name == name).values(disabled=disabled))
    if disabled:
        row = (await conn.execute(select(users.c.id).where(users.c.name == name))).first()
        if row:
            await conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
    return bool(result.rowcount)


@dataclass
class LoginOutcome:
    user: User | None
    reason: str = ""  # why it failed, for the log; the person sees one generic message


async def check_login(conn: AsyncConnection, name: str, password: str, *, now: datetime,
                      max_failures: int, lockout_seconds: float) -> LoginOutcome:
    """Verify a password; count failures and lock the account for a while after too many."""
    row = (await conn.execute(select(users).where(users.c.name == name))).first()
    if row is None:
        _hasher.hash(password)  # spend the same time as a real check, so names cannot be probed
        return LoginOutcome(None, "unknown user")
    if row.disabled:
        return LoginOutcome(None, "disabled")
    if row.locked_until is not None and row.locked_until > now:
        return LoginOutcome(None, "locked after repeated failures")
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        failures = row.failed_logins + 1
        values: dict[str, object] = {"failed_logins": failures}
        if failures >= max_failures:
            from datetime import timedelta

            values.update(locked_until=now + timedelta(seconds=lockout_seconds), failed_logins=0)
        await conn.execute(update(users).where(users.c.id == row.id).values(**values))
        return LoginOutcome(None, "wrong password")
    await conn.execute(update(users).where(users.c.id == row.id).values(failed_logins=0, locked_until=None))
    return LoginOutcome(_user(row))


async def create_token(conn: AsyncConnection, user: User, name: str, *, at: datetime) -> str:
    token = "alt_" + secrets.token_urlsafe(32)
    await conn.execute(
        api_tokens.insert().values(user_id=user.id, name=name, token_hash=token_hash(token), created_at=at)
    )
    return token


async def user_for_token(conn: AsyncConnection, token: str) -> User | None:
    row = (
        await conn.execute(
            select(users)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(and_(api_tokens.c.token_hash == token_hash(token), api_tokens.c.revoked.is_(False)))
        )
    ).first()
    if row is None or row.disabled:
        return None
    return _user(row)


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


async def session(conn: AsyncConnection, cookie: str) -> Session | None:
    row = (
        await conn.execute(
            select(sessions, users)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id_hash == token_hash(cookie))
        )
    ).first()
    if row is None or row.disabled:
        return None
    return Session(user=_user(row), csrf=row.csrf_token, id_hash=row.id_hash, last_seen_at=row.last_seen_at)


async def touch_session(conn: AsyncConnection, id_hash: str, at: datetime) -> None:
    await conn.execute(update(sessions).where(sessions.c.id_hash == id_hash).values(last_seen_at=at))


async def end_session(conn: AsyncConnection, id_hash: str) -> None:
    await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))
