"""Queries for the outbox: claim in slices, record outcomes in batches, reclaim after a crash, release, withdraw."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store import batched
from alerts.store.tables import deliveries, delivery_attempts, drafts, fanout_jobs, messages

OPEN_STATES = ("queued", "in_flight")
FINAL_STATES = ("sent", "delivered", "failed", "expired", "withdrawn", "suppressed")

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
    # An in-doubt delivery not yet settled: ask the provider about requests since `since` first.
    needs_reconcile: bool = False
    since: datetime | None = None
    # When the draft was approved: a warning without an end is retried until a ceiling after this.
    decided_at: datetime | None = None
    priority: int = 0


@dataclass
class Finished:
    """The outcome of one attempt, to be written with the others of its batch."""

    id: int
    state: str  # sent, queued (retry or paused), failed, expired, withdrawn
    provider_id: str | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error: str = ""
    next_attempt_at: datetime | None = None
    # The attempt's own record (None when no provider was called, e.g. expired).
    outcome: str | None = None
    latency_ms: float | None = None
    # How an in-doubt delivery was settled (found, not_found, unknowable), when it was.
    reconciled: str | None = None
    # No request reached the provider for it (paused, expired, withdrawn...): the claim's attempt is undone.
    undo_attempt: bool = False


_IN_DOUBT_OPEN = and_(deliveries.c.in_doubt.is_(True), deliveries.c.reconciled.is_(None))
_TS = deliveries.c.attempted_at.type


async def claim(conn: AsyncConnection, *, owner: str, now: datetime, lease_seconds: float, limit: int,
                channels: Sequence[str] | None = None, exclude: Sequence[str] = (),
                meta_cache: dict[int, Any] | None = None) -> list[Claimed]:
    """Claim up to `limit` due deliveries, marking them in flight: the worker calls the provider right
    after this commits, and claims no more than it has requests free, so what is in flight here is
    what is really in flight.

    One UPDATE ... RETURNING takes the rows (PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas never
    claim the same row); one more query reads their messages' texts, usually a single row.
    `channels` limits the claim to those channels; `exclude` leaves paused or spent ones queued.
    `meta_cache` keeps messages' texts between claims: they do not change once approved (a withdrawal
    turns the queued deliveries themselves to withdrawn, so no claim sees them afterwards).
    """
    if limit <= 0:
        return []
    statement = _claim_statement(conn.dialect.name, channels is not None, bool(exclude))
    params: dict[str, Any] = {"c_now": now, "c_owner": owner, "c_until": now + timedelta(seconds=lease_seconds),
                              "c_limit": limit}
    if channels is not None:
        params["c_channels"] = list(channels)
    if exclude:
        params["c_exclude"] = list(exclude)
    taken = (await conn.execute(statement, params)).all()
    if not taken:
        return []
    meta = meta_cache if meta_cache is not None else {}
    wanted = {r[1] for r in taken} - set(meta)
    if wanted:
        if meta_cache is not None and len(meta_cache) > 1000:
            meta_cache.clear()
            wanted = {r[1] for r in taken}
        meta.update({r.id: tuple(r) for r in await conn.execute(
            select(messages.c.id, messages.c.text, messages.c.draft_id, drafts.c.exercise, drafts.c.kind,
                   drafts.c.state.label("draft_state"), drafts.c.expires_at, drafts.c.decided_at)
            .join(drafts, drafts.c.id == messages.c.draft_id)
            .where(messages.c.id.in_(wanted)))})
    doubtful = [r[0] for r in taken if r[5] and r[6] is None]
    since: dict[int, datetime | None] = {}
    if doubtful:
        since = {r.id: r.attempted_at for r in await conn.execute(
            select(deliveries.c.id, deliveries.c.attempted_at).where(deliveries.c.id.in_(doubtful)))}
    out = []
    # Rows as plain tuples: at thousands a second, attribute access on result rows is a cost of its own.
    for ident, message_id, channel, address, attempts, in_doubt, _, priority in sorted(
            taken, key=lambda r: (-r[7], r[0])):
        _, text, draft_id, exercise, kind, draft_state, expires_at, decided_at = meta[message_id]
        out.append(Claimed(ident, message_id, draft_id, channel, address, text, attempts, expires_at, exercise,
                           draft_state, bool(in_doubt), "", kind, ident in since, since.get(ident), decided_at,
                           priority))
    return out


_CLAIM_STATEMENTS: dict[tuple[str, bool, bool], Any] = {}


def _claim_statement(dialect: str, by_channel: bool, excluding: bool) -> Any:
    """The claim, built once per shape with bound parameters (building it per claim costs more than
    running it)."""
    key = (dialect, by_channel, excluding)
    if key in _CLAIM_STATEMENTS:
        return _CLAIM_STATEMENTS[key]
    now = bindparam("c_now", type_=_TS)
    conditions = [deliveries.c.state == "queued", deliveries.c.next_attempt_at <= now]
    if by_channel:
        conditions.append(deliveries.c.channel.in_(bindparam("c_channels", expanding=True)))
    if excluding:
        conditions.append(deliveries.c.channel.not_in(bindparam("c_exclude", expanding=True)))
    due = (
        select(deliveries.c.id)
        .where(and_(*conditions))
        # Exactly the reverse of the (state, priority, next_attempt_at) index, so the database walks
        # the index and stops after `limit` rows instead of sorting every queued row per claim.
        .order_by(deliveries.c.priority.desc(), deliveries.c.next_attempt_at.desc())
        .limit(bindparam("c_limit", type_=Integer))
    )
    if dialect == "postgresql":
        # Materialised once: PostgreSQL may otherwise re-run a LIMIT ... SKIP LOCKED subquery for every row
        # it joins, each run skipping the rows just locked, and so claim far more than `limit`.
        picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED", dialect="postgresql")
        chosen = and_(deliveries.c.id == picked.c.id, deliveries.c.state == "queued")
    else:
        # By id only: one statement under SQLite's single writer sees the rows the subquery picked, and a
        # condition on state here would make SQLite walk every queued row instead of looking up the ids.
        chosen = deliveries.c.id.in_(due.scalar_subquery())
    statement = (
        update(deliveries)
        .where(chosen)
        .values(state="in_flight", lease_owner=bindparam("c_owner"), lease_until=bindparam("c_until", type_=_TS),
                attempts=deliveries.c.attempts + 1, updated_at=now,
                # An unsettled in-doubt delivery keeps the time of the request it is in doubt about.
                attempted_at=case((_IN_DOUBT_OPEN, deliveries.c.attempted_at), else_=now))
        .returning(deliveries.c.id, deliveries.c.message_id, deliveries.c.channel, deliveries.c.address,
                   deliveries.c.attempts, deliveries.c.in_doubt, deliveries.c.reconciled, deliveries.c.priority)
    )
    _CLAIM_STATEMENTS[key] = statement
    return statement


_PROVIDER_STATUS = deliveries.c.provider_status
_LEASED = and_(deliveries.c.id == bindparam("b_id"), deliveries.c.state == "in_flight",
               deliveries.c.lease_owner == bindparam("b_owner"))


async def finish_many(conn: AsyncConnection, items: list[Finished], *, owner: str, now: datetime) -> None:
    """Record a batch of outcomes, only where this worker still holds the lease, and every provider
    attempt alongside: sent ones in one statement (alerts/store/batched.py), the others with one more."""
    sent = [i for i in items if i.state == "sent"]
    other = [i for i in items if i.state != "sent"]
    await batched.mark_sent(conn, [{"id": i.id, "pid": i.provider_id, "ps": i.provider_status, "rec": i.reconciled}
                                   for i in sent], owner=owner, now=now)
    if other:
        await conn.execute(
            update(deliveries).where(_LEASED).values(
                state=bindparam("b_state"), error=bindparam("b_error"), error_code=bindparam("b_code"),
                next_attempt_at=func.coalesce(bindparam("b_next", type_=deliveries.c.next_attempt_at.type),
                                              deliveries.c.next_attempt_at),
                reconciled=func.coalesce(bindparam("b_rec", type_=deliveries.c.reconciled.type), deliveries.c.reconciled),
                attempts=deliveries.c.attempts - bindparam("b_undo", type_=Integer),
                updated_at=now, lease_owner=None, lease_until=None),
            [{"b_id": i.id, "b_owner": owner, "b_state": i.state, "b_error": i.error[:500], "b_code": i.error_code,
              "b_next": i.next_attempt_at, "b_rec": i.reconciled, "b_undo": 1 if i.undo_attempt else 0}
             for i in other],
        )
    await batched.add_attempts(conn, [{"id": i.id, "o": i.outcome, "c": i.error_code, "d": i.error[:500] or None,
                                       "ms": i.latency_ms} for i in items if i.outcome is not None], now=now)


async def release(conn: AsyncConnection, items: list[tuple[int, datetime | None]], *, owner: str,
                  now: datetime) -> None:
    """Put claimed deliveries back that will not be sent now (no rate token, a paused sender): no request
    was made, so their attempt is undone; each is due again at its time (None: as it was)."""
    if not items:
        return
    await conn.execute(
        update(deliveries).where(_LEASED).values(
            state="queued", attempts=deliveries.c.attempts - 1, lease_owner=None, lease_until=None, updated_at=now,
            next_attempt_at=func.coalesce(bindparam("b_next", type_=deliveries.c.next_attempt_at.type),
                                          deliveries.c.next_attempt_at)),
        [{"b_id": i, "b_owner": owner, "b_next": at} for i, at in items])


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
    queued: int = 0  # in doubt, queued to be reconciled with the provider before any resend
    settled: int = 0  # in doubt, but the provider's status callback had already told what happened

    @property
    def total(self) -> int:
        return self.queued + self.settled


async def reclaim(conn: AsyncConnection, *, now: datetime, dead_owners: list[str]) -> Reclaimed:
    """Deliveries left in flight by a dead worker (or whose lease ran out) are "in doubt": the request
    may or may not have reached the provider. One whose status callback already came is settled by it;
    the others are queued again, marked to be reconciled: the worker asks the provider before it sends
    (found: sent; not found: send; unknowable: the in-doubt policy). Never failed for a crash count."""
    stale = and_(deliveries.c.state == "in_flight",
                 or_(deliveries.c.lease_until < now, deliveries.c.lease_owner.in_(dead_owners or ["-"])))
    result = Reclaimed()
    heard = and_(stale, _PROVIDER_STATUS.is_not(None))
    await _attempt_from(conn, heard, now, "in flight when a worker stopped; its status callback had come: sent")
    r = await conn.execute(update(deliveries).where(heard).values(
        state=case((_PROVIDER_STATUS == "delivered", "delivered"),
                   (_PROVIDER_STATUS.in_(("undelivered", "failed")), "failed"), else_="sent"),
        in_doubt=True, reconciled="callback", sent_at=now, lease_owner=None, lease_until=None, updated_at=now))
    result.settled = int(r.rowcount or 0)
    await _attempt_from(conn, stale, now, "in flight when a worker stopped; to be looked up at the provider")
    r = await conn.execute(update(deliveries).where(stale).values(
        state="queued", in_doubt=True, reconciled=None, lease_owner=None, lease_until=None, next_attempt_at=now,
        updated_at=now))
    result.queued = int(r.rowcount or 0)
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
    await conn.execute(delete(fanout_jobs).where(fanout_jobs.c.draft_id == draft_id))  # nor any still to come
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


# --- receipts: alerts/store/receipts.py (kept importable from here, where callers look for them) ---------

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
    still_writing = select(fanout_jobs.c.draft_id).where(fanout_jobs.c.draft_id == drafts.c.id)
    rows = await conn.execute(
        select(drafts.c.id, exists(failed_rows).label("any_failed"))
        .where(and_(drafts.c.state == "dispatching", ~exists(open_rows), ~exists(still_writing)))
    )
    return [(r.id, bool(r.any_failed)) for r in rows]


from alerts.store.receipts import PROVIDER_RANK, Receipt, apply_status  # noqa: E402 - re-exported, see above

__all__ = ["PROVIDER_RANK", "Claimed", "Finished", "Receipt", "Reclaimed", "apply_status", "claim", "drafts_finished",
           "finish", "finish_many", "lease_owners", "reclaim", "record_attempt", "release", "suppress_queued_for",
           "withdraw_for_draft"]
