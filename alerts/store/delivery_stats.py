"""Delivery figures: the outbox as a whole ("is anything stuck, and why"), and per alert chain and
township (intended, queued, sent, delivered, failed by reason, in doubt, reconciled, duplicates avoided)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import (
    contacts,
    deliveries,
    delivery_attempts,
    drafts,
    messages,
    organisations,
    residents,
    send_budgets,
)

OPEN_STATES = ("queued", "in_flight")
SETTLED_BY_PROVIDER = ("found", "callback")  # in doubt, and the provider had it: not sent twice


def _aware(value: datetime | None) -> datetime | None:
    if isinstance(value, str):  # SQLite returns text for aggregates of timestamps
        value = datetime.fromisoformat(value)
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
    oldest_due_seconds: float = 0.0  # how long the longest-waiting due delivery has been due
    in_doubt_total: int = 0
    in_doubt_pending: int = 0  # still to be looked up at the provider
    in_doubt_found: int = 0  # the provider had it (or its callback had come): duplicates avoided
    in_doubt_resent: int = 0  # not found at the provider, or unknowable under "resend": sent again
    in_doubt_failed: int = 0
    attempts: int = 0
    # Why queued deliveries wait: their last error code (paused, 20429, timeout...) -> count.
    waiting_reasons: dict[str, int] = field(default_factory=dict)
    # Paused channels and senders: key -> {until, code, reason}.
    paused: dict[str, dict[str, Any]] = field(default_factory=dict)
    stuck_in_flight: int = 0  # in flight past their lease: a dead worker's, to be reclaimed

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def status(conn: AsyncConnection, now: datetime) -> OutboxStatus:
    out = OutboxStatus()
    for state, count in await conn.execute(select(deliveries.c.state, func.count()).group_by(deliveries.c.state)):
        out.by_state[state] = int(count)
    queued = deliveries.c.state == "queued"
    row = (await conn.execute(select(func.count(), func.min(deliveries.c.next_attempt_at)).where(
        and_(queued, deliveries.c.next_attempt_at <= now)))).one()
    out.due = int(row[0] or 0)
    oldest_due = _aware(row[1])
    out.oldest_due_seconds = (now - oldest_due).total_seconds() if oldest_due else 0.0
    out.deferred = out.by_state.get("queued", 0) - out.due
    _, out.oldest_open_seconds = await depth(conn, now)
    reasons = await conn.execute(select(deliveries.c.error_code, func.count())
                                 .where(queued).group_by(deliveries.c.error_code))
    out.waiting_reasons = {(code or "new"): int(n) for code, n in reasons}
    out.stuck_in_flight = int((await conn.execute(select(func.count()).where(and_(
        deliveries.c.state == "in_flight", deliveries.c.lease_until < now)))).scalar() or 0)
    doubt = await conn.execute(select(deliveries.c.state, deliveries.c.reconciled, func.count())
                               .where(deliveries.c.in_doubt.is_(True))
                               .group_by(deliveries.c.state, deliveries.c.reconciled))
    for state, reconciled, count in doubt:
        n = int(count)
        out.in_doubt_total += n
        if state in OPEN_STATES:
            out.in_doubt_pending += n
        elif reconciled in SETTLED_BY_PROVIDER:
            out.in_doubt_found += n
        elif state in ("sent", "delivered"):
            out.in_doubt_resent += n
        else:
            out.in_doubt_failed += n
    out.attempts = int((await conn.execute(select(func.count()).select_from(delivery_attempts))).scalar() or 0)
    for r in await conn.execute(select(send_budgets).where(send_budgets.c.paused_until > now)):
        out.paused[r.key] = {"until": _aware(r.paused_until).isoformat() if r.paused_until else None,  # type: ignore[union-attr]
                             "code": r.pause_code, "reason": r.pause_reason}
    return out


# --- per chain and township ----------------------------------------------------------------------------

COUNTS = ("intended", "queued", "in_flight", "sent", "delivered", "failed", "expired", "withdrawn", "suppressed",
          "in_doubt", "reconciled", "duplicates_avoided")


def _empty() -> dict[str, Any]:
    out: dict[str, Any] = {k: 0 for k in COUNTS}
    out["failed_by_reason"] = {}
    return out


def _add(into: dict[str, Any], state: str, code: str | None, in_doubt: bool, reconciled: str | None, n: int) -> None:
    into["intended"] += n
    if state in into:
        into[state] += n
    if state in ("failed", "expired"):
        reason = code or state
        into["failed_by_reason"][reason] = into["failed_by_reason"].get(reason, 0) + n
    if in_doubt:
        into["in_doubt"] += n
    if reconciled is not None:
        into["reconciled"] += n
    if reconciled in SETTLED_BY_PROVIDER:
        into["duplicates_avoided"] += n


def _area_of() -> Any:
    """A delivery's township: the resident's area, or the organisation's for a contact; "test" for drill phones."""
    kind = func.substr(deliveries.c.recipient_key, 1, 2)
    ident = cast(func.substr(deliveries.c.recipient_key, 3), Integer)
    resident_area = select(residents.c.area).where(residents.c.id == ident).scalar_subquery()
    org_area = (select(organisations.c.area).join(contacts, contacts.c.organisation_id == organisations.c.id)
                .where(contacts.c.id == ident).scalar_subquery())
    return case((kind == "r:", resident_area), (kind == "c:", org_area), else_=literal("test"))


async def by_chain(conn: AsyncConnection, *, limit: int = 20, group_key: str | None = None) -> list[dict[str, Any]]:
    """The latest `limit` dispatched chains (or one), each with totals and a row per township."""
    recent = (select(drafts.c.group_key, func.max(drafts.c.decided_at).label("last"))
              .where(drafts.c.decided_at.is_not(None)).group_by(drafts.c.group_key))
    if group_key is not None:
        recent = recent.where(drafts.c.group_key == group_key)
    chains = list(await conn.execute(recent.order_by(func.max(drafts.c.decided_at).desc()).limit(limit)))
    if not chains:
        return []
    keys = [c.group_key for c in chains]
    area = _area_of().label("area")
    rows = await conn.execute(
        select(drafts.c.group_key, area, deliveries.c.state, deliveries.c.error_code, deliveries.c.in_doubt,
               deliveries.c.reconciled, func.count())
        .join(messages, messages.c.id == deliveries.c.message_id).join(drafts, drafts.c.id == messages.c.draft_id)
        .where(drafts.c.group_key.in_(keys))
        .group_by(drafts.c.group_key, area, deliveries.c.state, deliveries.c.error_code, deliveries.c.in_doubt,
                  deliveries.c.reconciled))
    info = {r.group_key: r for r in await conn.execute(
        select(drafts.c.group_key, func.max(drafts.c.hazard).label("hazard"), func.max(drafts.c.level).label("level"),
               func.count().label("drafts")).where(drafts.c.group_key.in_(keys)).group_by(drafts.c.group_key))}
    out: dict[str, dict[str, Any]] = {}
    for c in chains:
        meta = info.get(c.group_key)
        out[c.group_key] = {"chain": c.group_key, "hazard": meta.hazard if meta else None,
                            "level": meta.level if meta else None, "drafts": int(meta.drafts) if meta else 0,
                            "last_decided_at": _aware(c.last).isoformat() if c.last else None,  # type: ignore[union-attr]
                            "totals": _empty(), "townships": {}}
    for key, township, state, code, in_doubt, reconciled, n in rows:
        chain = out[key]
        _add(chain["totals"], state, code, bool(in_doubt), reconciled, int(n))
        _add(chain["townships"].setdefault(township or "unknown", _empty()), state, code, bool(in_doubt),
             reconciled, int(n))
    result = []
    for chain in out.values():
        chain["townships"] = [{"area": a, **counts} for a, counts in sorted(chain["townships"].items())]
        result.append(chain)
    return result
