"""Queries for the outbox: claim with a lease, record outcomes in batches, reclaim after a crash, receipts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import deliveries, delivery_attempts, drafts, messages

OPEN_STATES = ("queued", "in_flight")
FINAL_STATES = ("sent", "delivered", "failed", "expired", "withdrawn", "suppressed")
# Twilio's message statuses in the order a message moves through them; a callback may only
# move a delivery forward (callbacks arrive duplicated and out of order).
PROVIDER_RANK = {"accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4, "delivered": 5,
                 "undelivered": 5, "failed": 5, "canceled": 5, "read": 6}


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
    recipient_key: str = ""
    draft_kind: str = "warning"


@dataclass
class Finished:
    """The outcome of one attempt, to be written with the others of its batch."""

    id: int
    state: str  # sent, queued (retry), failed, expired, withdrawn
    provider_id: str | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error: str = ""
    next_attempt_at: datetime | None = None
    # The attempt's own record (None when no provider was called, e.g. expired).
    outcome: str | None = None
    latency_ms: float | None = None


async def claim(conn: AsyncConnection, *, owner: str, now: datetime, lease_seconds: float, limit: int) -> list[Claimed]:
    """Claim up to `limit` due deliveries, marking them in flight before any provider is called.

    One UPDATE ... RETURNING takes the rows (PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas never
    claim the same row); one more query reads their messages' texts, usually a single row.
    """
    due = (
        select(deliveries.c.id)
        .where(and_(deliveries.c.state == "queued", deliveries.c.next_attempt_at <= now))
        # Exactly the reverse of the (state, priority, next_attempt_at) index, so the database walks
        # the index and stops after `limit` rows instead of sorting every queued row per claim.
        .order_by(deliveries.c.priority.desc(), deliveries.c.next_attempt_at.desc())
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    taken = (await conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.id.in_(due.scalar_subquery()), deliveries.c.state == "queued"))
        .values(state="in_flight", lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds),
                attempts=deliveries.c.attempts + 1, updated_at=now)
        .returning(deliveries.c.id, deliveries.c.message_id, deliveries.c.channel, deliveries.c.address,
                   deliveries.c.attempts, deliveries.c.expires_at, deliveries.c.in_doubt, deliveries.c.recipient_key,
                   deliveries.c.priority)
    )).all()
    if not taken:
        return []
    meta = {r.id: r for r in await conn.execute(
        select(messages.c.id, messages.c.text, messages.c.draft_id, drafts.c.exercise, drafts.c.kind,
               drafts.c.state.label("draft_state"))
        .join(drafts, drafts.c.id == messages.c.draft_id)
        .where(messages.c.id.in_({r.message_id for r in taken})))}
    out = []
    for r in sorted(taken, key=lambda r: (-r.priority, r.id)):
        m = meta[r.message_id]
        out.append(Claimed(r.id, r.message_id, m.draft_id, r.channel, r.address, m.text, r.attempts, r.expires_at,
                           m.exercise, m.draft_state, r.in_doubt, r.recipient_key, m.kind))
    return out


_PROVIDER_STATUS = deliveries.c.provider_status


async def finish_many(conn: AsyncConnection, items: list[Finished], *, owner: str, now: datetime) -> None:
    """Record a batch of outcomes (two statements, not one per delivery), only where this worker
    still holds the lease, and every provider attempt alongside."""
    sent = [i for i in items if i.state == "sent"]
    other = [i for i in items if i.state != "sent"]
    where = and_(deliveries.c.id == bindparam("b_id"), deliveries.c.state == "in_flight",
                 deliveries.c.lease_owner == owner)
    if sent:
        # A status callback can beat this record (Twilio is fast): what it reported is kept.
        await conn.execute(
            update(deliveries).where(where).values(
                state=case((_PROVIDER_STATUS == "delivered", "delivered"),
                           (or_(_PROVIDER_STATUS == "undelivered", _PROVIDER_STATUS == "failed"), "failed"), else_="sent"),
                provider_id=func.coalesce(deliveries.c.provider_id, bindparam("b_pid")),
                provider_status=func.coalesce(_PROVIDER_STATUS, bindparam("b_pstatus")),
                error="", sent_at=now, updated_at=now, lease_owner=None, lease_until=None),
            [{"b_id": i.id, "b_pid": i.provider_id, "b_pstatus": i.provider_status} for i in sent],
        )
    if other:
        await conn.execute(
            update(deliveries).where(where).values(
                state=bindparam("b_state"), error=bindparam("b_error"), error_code=bindparam("b_code"),
                next_attempt_at=func.coalesce(bindparam("b_next", type_=deliveries.c.next_attempt_at.type),
                                              deliveries.c.next_attempt_at),
                updated_at=now, lease_owner=None, lease_until=None),
            [{"b_id": i.id, "b_state": i.state, "b_error": i.error[:500], "b_code": i.error_code,
              "b_next": i.next_attempt_at} for i in other],
        )
    attempts = [dict(delivery_id=i.id, at=now, outcome=i.outcome, error_code=i.error_code, detail=i.error[:500],
                     latency_ms=i.latency_ms) for i in items if i.outcome is not None]
    if attempts:
        await conn.execute(delivery_attempts.insert(), attempts)


async def finish(conn: AsyncConnection, delivery_id: int, *, owner: str, state: str, now: datetime,
                 provider_id: str | None = None, provider_status: str | None = None, error_code: str | None = None,
                 error: str = "", next_attempt_at: datetime | None = None) -> None:
    """One outcome (kept for callers outside the worker's batch path)."""
    await finish_many(conn, [Finished(delivery_id, state, provider_id, provider_status, error_code, error,
                                      next_attempt_at)], owner=owner, now=now)


async def record_attempt(conn: AsyncConnection, delivery_id: int, *, at: datetime, outcome: str,
                         error_code: str | None = None, detail: str = "", latency_ms: float | None = None) -> None:
    await conn.execute(delivery_attempts.insert().values(
        delivery_id=delivery_id, at=at, outcome=outcome, error_code=error_code, detail=detail[:500],
        latency_ms=latency_ms))


# --- after a crash --------------------------------------------------------------------------------

async def lease_owners(conn: AsyncConnection) -> list[str]:
    """Owners holding deliveries in flight (to spot workers that died on this host)."""
    rows = await conn.execute(select(deliveries.c.lease_owner).where(deliveries.c.state == "in_flight").distinct())
    return [r[0] for r in rows if r[0]]


@dataclass
class Reclaimed:
    resent: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.resent + self.failed


async def reclaim_expired_leases(conn: AsyncConnection, *, now: datetime, policy: str,
                                 campaign_policy: str | None = None, dead_owners: list[str] | None = None) -> int:
    return (await reclaim(conn, now=now, policy=policy, campaign_policy=campaign_policy or policy,
                          dead_owners=dead_owners or [])).total


async def reclaim(conn: AsyncConnection, *, now: datetime, policy: str, campaign_policy: str,
                  dead_owners: list[str]) -> Reclaimed:
    """Deliveries left in flight by a dead worker are "in doubt": the provider may or may not have
    them. Policy "resend" queues them once more (at-least-once; a second crash fails them),
    "fail" ends them (at-most-once). Each gets an attempt record saying so."""
    stale = and_(deliveries.c.state == "in_flight",
                 or_(deliveries.c.lease_until < now, deliveries.c.lease_owner.in_(dead_owners or ["-"])))
    campaign_messages = (select(messages.c.id).join(drafts, drafts.c.id == messages.c.draft_id)
                         .where(drafts.c.kind == "campaign"))
    result = Reclaimed()
    for scope, pol in ((deliveries.c.message_id.in_(campaign_messages), campaign_policy),
                       (deliveries.c.message_id.not_in(campaign_messages), policy)):
        if pol == "resend":
            twice = and_(stale, scope, deliveries.c.in_doubt.is_(True))
            once = and_(stale, scope, deliveries.c.in_doubt.is_(False))
            await _attempt_from(conn, twice, now, "in flight at a second crash; not sent again")
            r = await conn.execute(update(deliveries).where(twice).values(
                state="failed", error="in doubt twice after crashes; not sent again", error_code="in_doubt",
                lease_owner=None, lease_until=None, updated_at=now))
            result.failed += int(r.rowcount or 0)
            await _attempt_from(conn, once, now, "in flight when a worker stopped; sent once more (policy: resend)")
            r = await conn.execute(update(deliveries).where(once).values(
                state="queued", in_doubt=True, lease_owner=None, lease_until=None, next_attempt_at=now,
                updated_at=now))
            result.resent += int(r.rowcount or 0)
        else:
            cond = and_(stale, scope)
            await _attempt_from(conn, cond, now, "in flight when a worker stopped; not resent (policy: fail)")
            r = await conn.execute(update(deliveries).where(cond).values(
                state="failed", in_doubt=True, error="in flight when a worker stopped; not resent (policy: fail)",
                error_code="in_doubt", lease_owner=None, lease_until=None, updated_at=now))
            result.failed += int(r.rowcount or 0)
    return result


async def _attempt_from(conn: AsyncConnection, where: Any, now: datetime, detail: str) -> None:
    await conn.execute(delivery_attempts.insert().from_select(
        ["delivery_id", "at", "outcome", "error_code", "detail", "latency_ms"],
        select(deliveries.c.id, literal(now, delivery_attempts.c.at.type), literal("in_doubt"), literal("in_doubt"),
               literal(detail), null()).where(where)))


# --- stopping what is queued ----------------------------------------------------------------------

async def withdraw_for_draft(conn: AsyncConnection, draft_id: int, *, now: datetime, reason: str) -> int:
    """Stop everything of a draft that has not gone out yet."""
    msg_ids = select(messages.c.id).where(messages.c.draft_id == draft_id)
    result = await conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.message_id.in_(msg_ids), deliveries.c.state == "queued"))
        .values(state="withdrawn", error=reason[:500], updated_at=now)
    )
    return int(result.rowcount or 0)


async def suppress_queued_for(conn: AsyncConnection, recipient_keys: list[str], *, now: datetime, reason: str) -> int:
    """A resident who opted out gets nothing more that is still queued."""
    open_messages = (select(messages.c.id).join(drafts, drafts.c.id == messages.c.draft_id)
                     .where(drafts.c.state.in_(("approved", "dispatching"))))
    ids = [r[0] for r in await conn.execute(open_messages)]
    if not ids or not recipient_keys:
        return 0
    result = await conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.message_id.in_(ids), deliveries.c.recipient_key.in_(recipient_keys),
                    deliveries.c.state == "queued"))
        .values(state="suppressed", error=reason[:500], updated_at=now))
    return int(result.rowcount or 0)


# --- receipts -------------------------------------------------------------------------------------

@dataclass
class Receipt:
    found: bool
    changed: bool
    delivery_id: int | None = None
    state: str | None = None
    note: str = ""


async def apply_status(conn: AsyncConnection, *, delivery_id: int | None, provider_id: str, status: str,
                       error_code: str | None, now: datetime) -> Receipt:
    """Apply a provider status callback; a status never moves a delivery backwards."""
    status = status.strip().lower()
    rank = PROVIDER_RANK.get(status)
    if rank is None:
        return Receipt(False, False, note=f"unknown status {status!r}")
    q = select(deliveries.c.id, deliveries.c.state, deliveries.c.provider_id, deliveries.c.provider_status)
    if delivery_id is not None:
        row = (await conn.execute(q.where(deliveries.c.id == delivery_id))).first()
        if row is not None and row.provider_id and provider_id and row.provider_id != provider_id:
            return Receipt(False, False, note="the message id does not match this delivery")
    else:
        row = (await conn.execute(q.where(deliveries.c.provider_id == provider_id))).first()
    if row is None:
        return Receipt(False, False, note="no such delivery")
    current = PROVIDER_RANK.get(row.provider_status or "", 0)
    if rank <= current or row.state in ("queued", "withdrawn", "expired", "suppressed"):
        return Receipt(True, False, row.id, row.state, note="not newer than what is recorded")
    values: dict[str, Any] = {"provider_status": status, "updated_at": now}
    if provider_id and not row.provider_id:
        values["provider_id"] = provider_id
    if row.state != "in_flight":  # an in-flight row takes the status when the worker records it
        if status == "delivered":
            values["state"] = "delivered"
        elif status in ("undelivered", "failed"):
            values.update(state="failed", error_code=error_code or status,
                          error=f"the carrier reported {status}" + (f" (error {error_code})" if error_code else ""))
    elif status in ("undelivered", "failed"):
        values["error_code"] = error_code or status
    cas = deliveries.c.provider_status.is_(None) if row.provider_status is None else (
        deliveries.c.provider_status == row.provider_status)
    result = await conn.execute(update(deliveries).where(and_(deliveries.c.id == row.id, cas)).values(**values))
    changed = bool(result.rowcount)
    return Receipt(True, changed, row.id, values.get("state", row.state))


# --- reporting ------------------------------------------------------------------------------------

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


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def depth(conn: AsyncConnection, now: datetime) -> tuple[int, float]:
    """Open deliveries and the age in seconds of the oldest one."""
    row = (await conn.execute(
        select(func.count(), func.min(deliveries.c.created_at)).where(deliveries.c.state.in_(OPEN_STATES))
    )).first()
    count = int(row[0]) if row else 0
    oldest = _aware(row[1]) if row else None
    return count, ((now - oldest).total_seconds() if oldest else 0.0)


@dataclass
class OutboxStatus:
    by_state: dict[str, int] = field(default_factory=dict)
    due: int = 0
    deferred: int = 0
    oldest_open_seconds: float = 0.0
    in_doubt_total: int = 0
    in_doubt_resent: int = 0
    in_doubt_failed: int = 0
    in_doubt_pending: int = 0
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def status(conn: AsyncConnection, now: datetime) -> OutboxStatus:
    out = OutboxStatus()
    for state, count in await conn.execute(select(deliveries.c.state, func.count()).group_by(deliveries.c.state)):
        out.by_state[state] = int(count)
    queued = deliveries.c.state == "queued"
    out.due = int((await conn.execute(select(func.count()).where(
        and_(queued, deliveries.c.next_attempt_at <= now)))).scalar() or 0)
    out.deferred = out.by_state.get("queued", 0) - out.due
    _, out.oldest_open_seconds = await depth(conn, now)
    for state, count in await conn.execute(select(deliveries.c.state, func.count())
                                           .where(deliveries.c.in_doubt.is_(True)).group_by(deliveries.c.state)):
        out.in_doubt_total += int(count)
        if state in ("sent", "delivered"):
            out.in_doubt_resent += int(count)
        elif state in OPEN_STATES:
            out.in_doubt_pending += int(count)
        else:
            out.in_doubt_failed += int(count)
    out.attempts = int((await conn.execute(select(func.count()).select_from(delivery_attempts))).scalar() or 0)
    return out
