"""Queries for the outbox: claim with a lease, record outcomes, reclaim after a crash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import deliveries, delivery_attempts, drafts, messages

OPEN_STATES = ("queued", "in_flight")


@dataclass
class Claimed:
    id: int
    message_id: int
    draft_id: int
    channel: str
    address: str
    text: str
    attempts: int
    expires_at: datetime | None
    exercise: bool
    draft_state: str
    in_doubt: bool


async def claim(conn: AsyncConnection, *, owner: str, now: datetime, lease_seconds: float, limit: int) -> list[Claimed]:
    """Claim up to `limit` due deliveries, marking them in flight before any provider is called."""
    due = (
        select(deliveries.c.id)
        .where(and_(deliveries.c.state == "queued", deliveries.c.next_attempt_at <= now))
        .order_by(deliveries.c.priority.desc(), deliveries.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = [r.id for r in await conn.execute(due)]
    if not ids:
        return []
    await conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.id.in_(ids), deliveries.c.state == "queued"))
        .values(state="in_flight", lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds),
                attempts=deliveries.c.attempts + 1, updated_at=now)
    )
    rows = await conn.execute(
        select(deliveries.c.id, deliveries.c.message_id, deliveries.c.channel, deliveries.c.address,
               deliveries.c.attempts, deliveries.c.expires_at, deliveries.c.in_doubt, messages.c.text,
               messages.c.draft_id, drafts.c.exercise, drafts.c.state.label("draft_state"))
        .join(messages, messages.c.id == deliveries.c.message_id)
        .join(drafts, drafts.c.id == messages.c.draft_id)
        .where(and_(deliveries.c.id.in_(ids), deliveries.c.lease_owner == owner, deliveries.c.state == "in_flight"))
        .order_by(deliveries.c.priority.desc(), deliveries.c.id)
    )
    return [
        Claimed(r.id, r.message_id, r.draft_id, r.channel, r.address, r.text, r.attempts, r.expires_at,
                r.exercise, r.draft_state, r.in_doubt)
        for r in rows
    ]


async def finish(conn: AsyncConnection, delivery_id: int, *, owner: str, state: str, now: datetime,
                 provider_id: str | None = None, provider_status: str | None = None, error_code: str | None = None,
                 error: str = "", next_attempt_at: datetime | None = None) -> bool:
    """Record the outcome of an attempt, only if this worker still holds the lease."""
    values: dict[str, Any] = dict(state=state, updated_at=now, lease_owner=None, lease_until=None, error=error[:500],
                                  error_code=error_code)
    if provider_id is not None:
        values["provider_id"] = provider_id
    if provider_status is not None:
        values["provider_status"] = provider_status
    if state == "sent":
        values["sent_at"] = now
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    result = await conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.id == delivery_id, deliveries.c.state == "in_flight", deliveries.c.lease_owner == owner))
        .values(**values)
    )
    return bool(result.rowcount)


async def record_attempt(conn: AsyncConnection, delivery_id: int, *, at: datetime, outcome: str,
                         error_code: str | None = None, detail: str = "", latency_ms: float | None = None) -> None:
    await conn.execute(delivery_attempts.insert().values(
        delivery_id=delivery_id, at=at, outcome=outcome, error_code=error_code, detail=detail[:500],
        latency_ms=latency_ms))


async def reclaim_expired_leases(conn: AsyncConnection, *, now: datetime, policy: str) -> int:
    """Deliveries left in flight by a dead worker are in doubt: resend once, or fail them (policy)."""
    stale = and_(deliveries.c.state == "in_flight", deliveries.c.lease_until < now)
    if policy == "resend":
        # A row already resent once after a crash is not resent again: it is failed as in doubt.
        twice = await conn.execute(update(deliveries).where(and_(stale, deliveries.c.in_doubt.is_(True))).values(
            state="failed", error="in doubt twice after crashes; not sent again", error_code="in_doubt",
            lease_owner=None, lease_until=None, updated_at=now))
        once = await conn.execute(update(deliveries).where(stale).values(
            state="queued", in_doubt=True, lease_owner=None, lease_until=None, next_attempt_at=now, updated_at=now))
        return int(once.rowcount or 0) + int(twice.rowcount or 0)
    result = await conn.execute(update(deliveries).where(stale).values(
        state="failed", in_doubt=True, error="in flight when a worker stopped; not resent (policy: fail)",
        error_code="in_doubt", lease_owner=None, lease_until=None, updated_at=now))
    return int(result.rowcount or 0)


async def withdraw_for_draft(conn: AsyncConnection, draft_id: int, *, now: datetime, reason: str) -> int:
    """Stop everything of a draft that has not gone out yet."""
    msg_ids = select(messages.c.id).where(messages.c.draft_id == draft_id)
    result = await conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.message_id.in_(msg_ids), deliveries.c.state == "queued"))
        .values(state="withdrawn", error=reason[:500], updated_at=now)
    )
    return int(result.rowcount or 0)


async def drafts_finished(conn: AsyncConnection) -> list[tuple[int, bool]]:
    """Dispatching drafts with nothing left to send: (draft id, whether any delivery failed)."""
    open_rows = (
        select(deliveries.c.id)
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(and_(messages.c.draft_id == drafts.c.id, deliveries.c.state.in_(OPEN_STATES)))
    )
    failed_rows = (
        select(deliveries.c.id)
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(and_(messages.c.draft_id == drafts.c.id, deliveries.c.state.in_(("failed", "expired"))))
    )
    rows = await conn.execute(
        select(drafts.c.id, exists(failed_rows).label("any_failed"))
        .where(and_(drafts.c.state == "dispatching", ~exists(open_rows)))
    )
    return [(r.id, bool(r.any_failed)) for r in rows]


async def depth(conn: AsyncConnection, now: datetime) -> tuple[int, float]:
    """Open deliveries and the age in seconds of the oldest one."""
    row = (await conn.execute(
        select(func.count(), func.min(deliveries.c.created_at)).where(deliveries.c.state.in_(OPEN_STATES))
    )).first()
    count = int(row[0]) if row else 0
    oldest = row[1] if row else None
    if oldest is not None and oldest.tzinfo is None:
        from datetime import UTC

        oldest = oldest.replace(tzinfo=UTC)
    return count, ((now - oldest).total_seconds() if oldest else 0.0)
