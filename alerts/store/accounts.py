"""Account safety records: enrolment links, remembered devices, login throttling, two-person requests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import admin_requests, enrolments, known_devices, login_throttle, users
from alerts.store.users import token_hash

# --- enrolment links ------------------------------------------------------------------------------


async def new_enrolment(conn: AsyncConnection, user_id: int, *, purpose: str, by: str, at: datetime,
                        valid: timedelta) -> str:
    """A one-time code for the user to set their own password; earlier unused codes stop working."""
    await conn.execute(update(enrolments).where(and_(enrolments.c.user_id == user_id, enrolments.c.used_at.is_(None)))
                       .values(used_at=at))
    code = secrets.token_urlsafe(24)
    await conn.execute(enrolments.insert().values(user_id=user_id, code_hash=token_hash(code), purpose=purpose,
                                                  created_by=by, created_at=at, expires_at=at + valid))
    return code


@dataclass(frozen=True)
class Enrolment:
    id: int
    user_id: int
    user_name: str
    purpose: str
    created_by: str
    expires_at: datetime


async def open_enrolment(conn: AsyncConnection, code: str, *, now: datetime) -> Enrolment | None:
    """The unused, unexpired enrolment for `code` of an active user, or None."""
    row = (await conn.execute(
        select(enrolments, users.c.name, users.c.disabled).join(users, users.c.id == enrolments.c.user_id)
        .where(enrolments.c.code_hash == token_hash(code)))).first()
    if row is None or row.used_at is not None or row.expires_at <= now or row.disabled:
        return None
    return Enrolment(row.id, row.user_id, row.name, row.purpose, row.created_by, row.expires_at)


async def use_enrolment(conn: AsyncConnection, enrolment_id: int, *, at: datetime) -> bool:
    """Mark it used; False when another request used it first."""
    result = await conn.execute(update(enrolments).where(and_(enrolments.c.id == enrolment_id,
                                                              enrolments.c.used_at.is_(None))).values(used_at=at))
    return bool(result.rowcount)


# --- remembered devices ---------------------------------------------------------------------------


async def remember_device(conn: AsyncConnection, user_id: int, *, at: datetime) -> str:
    cookie = secrets.token_urlsafe(32)
    await conn.execute(known_devices.insert().values(id_hash=token_hash(cookie), user_id=user_id, created_at=at,
                                                     last_used_at=at))
    return cookie


async def device_owner(conn: AsyncConnection, cookie: str, *, not_before: datetime) -> tuple[int, str] | None:
    """(user id, device hash) of a remembered device used since `not_before`, or None."""
    if not cookie:
        return None
    row = (await conn.execute(select(known_devices).where(known_devices.c.id_hash == token_hash(cookie)))).first()
    if row is None or row.last_used_at < not_before:
        return None
    return int(row.user_id), str(row.id_hash)


async def touch_device(conn: AsyncConnection, id_hash: str, *, at: datetime) -> None:
    await conn.execute(update(known_devices).where(known_devices.c.id_hash == id_hash).values(last_used_at=at))


async def forget_devices(conn: AsyncConnection, user_id: int) -> int:
    result = await conn.execute(delete(known_devices).where(known_devices.c.user_id == user_id))
    return int(result.rowcount or 0)


async def device_count(conn: AsyncConnection, user_id: int) -> int:
    return len((await conn.execute(select(known_devices.c.id_hash).where(known_devices.c.user_id == user_id))).all())


# --- login throttling -----------------------------------------------------------------------------


async def throttled_until(conn: AsyncConnection, keys: list[str]) -> datetime | None:
    """The latest time any of `keys` must wait for, or None."""
    rows = (await conn.execute(select(login_throttle.c.next_allowed_at).where(login_throttle.c.key.in_(keys)))).all()
    times = [r.next_allowed_at for r in rows if r.next_allowed_at is not None]
    return max(times) if times else None


async def count_failure(conn: AsyncConnection, key: str, *, now: datetime, free: int, first_delay: float,
                        max_delay: float, forget_after: timedelta) -> None:
    """One more wrong password under `key`; past `free`, each next try waits twice as long as the last."""
    row = (await conn.execute(select(login_throttle).where(login_throttle.c.key == key))).first()
    failures = 1 if row is None or now - row.updated_at > forget_after else row.failures + 1
    delay = 0.0 if failures <= free else min(max_delay, first_delay * 2 ** min(failures - free - 1, 30))
    values: dict[str, Any] = {"failures": failures, "updated_at": now,
                              "next_allowed_at": now + timedelta(seconds=delay) if delay else None}
    if row is None:
        await conn.execute(login_throttle.insert().values(key=key, **values))
    else:
        await conn.execute(update(login_throttle).where(login_throttle.c.key == key).values(**values))


async def clear_throttle(conn: AsyncConnection, keys: list[str]) -> None:
    await conn.execute(delete(login_throttle).where(login_throttle.c.key.in_(keys)))


# --- two-person requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminRequest:
    id: int
    kind: str
    target: str
    payload: dict[str, Any]
    requested_by: str
    requested_at: datetime
    state: str
    decided_by: str | None
    decided_at: datetime | None


def _request(row: Any) -> AdminRequest:
    return AdminRequest(row.id, row.kind, row.target, dict(row.payload or {}), row.requested_by, row.requested_at,
                        row.state, row.decided_by, row.decided_at)


async def add_request(conn: AsyncConnection, *, kind: str, target: str, payload: dict[str, Any], by: str,
                      at: datetime) -> int:
    result = await conn.execute(admin_requests.insert().values(kind=kind, target=target, payload=payload,
                                                               requested_by=by, requested_at=at, state="pending"))
    return int(result.inserted_primary_key[0])


async def pending_requests(conn: AsyncConnection, target: str | None = None) -> list[AdminRequest]:
    query = select(admin_requests).where(admin_requests.c.state == "pending")
    if target is not None:
        query = query.where(admin_requests.c.target == target)
    return [_request(r) for r in await conn.execute(query.order_by(admin_requests.c.id))]


async def get_request(conn: AsyncConnection, request_id: int) -> AdminRequest | None:
    row = (await conn.execute(select(admin_requests).where(admin_requests.c.id == request_id))).first()
    return _request(row) if row else None


async def decide_request(conn: AsyncConnection, request_id: int, *, state: str, by: str, at: datetime) -> bool:
    """pending → state; False when it was decided already (by someone else, at the same moment)."""
    result = await conn.execute(update(admin_requests).where(and_(admin_requests.c.id == request_id,
                                                                  admin_requests.c.state == "pending"))
                                .values(state=state, decided_by=by, decided_at=at))
    return bool(result.rowcount)
