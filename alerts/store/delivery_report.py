"""The after-action delivery report: for one message (draft) or one event, per township and village,
intended, sent, delivered, failed by reason, opted out and acknowledged (叫应 units), with the times.

Read-only queries over deliveries, residents, organisations and the event's acknowledgement requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import (
    ack_requests,
    contacts,
    deliveries,
    drafts,
    event_chains,
    event_drafts,
    messages,
    organisations,
    residents,
)

# Deliveries a provider accepted (sent), and of those the ones a receipt confirmed (delivered).
SENT_STATES = ("sent", "delivered")
# Per-number provider answers that mean the person has unsubscribed (Twilio 21610; domestic replies TD).
OPT_OUT_CODES = ("21610", "opted_out")
UNIT = "（单位）"
BY_POSITION = [literal_column(str(i)) for i in range(1, 5)]  # the "village" of deliveries to organisations' contacts


@dataclass
class Row:
    area: str  # township code ("test" for drill phones)
    village: str  # the resident's village; UNIT for organisations; "" when not recorded
    intended: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    waiting: int = 0  # queued or in flight: not settled yet
    opted_out: int = 0
    ack_asked: int = 0
    acknowledged: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, other: Row) -> None:
        for name in ("intended", "sent", "delivered", "failed", "waiting", "opted_out", "ack_asked", "acknowledged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.failed_by_reason.items():
            self.failed_by_reason[reason] = self.failed_by_reason.get(reason, 0) + n


@dataclass
class Report:
    draft_ids: list[int]
    rows: list[Row]  # per (township, village), sorted
    townships: list[Row]  # per township (village ""), sorted
    total: Row
    first_sent_at: datetime | None
    last_sent_at: datetime | None


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def event_draft_ids(conn: AsyncConnection, event_id: int) -> list[int]:
    """The drafts of an event: those of its warning chains, and its own (policy, rumour responses)."""
    from alerts.store.tables import alerts as alerts_table

    chain_ids = [int(r.chain_id) for r in await conn.execute(
        select(event_chains.c.chain_id).where(event_chains.c.event_id == event_id))]
    own = [int(r.draft_id) for r in await conn.execute(
        select(event_drafts.c.draft_id).where(event_drafts.c.event_id == event_id))]
    conditions = [drafts.c.id.in_(own)] if own else []
    if chain_ids:
        conditions.append(drafts.c.group_key.in_([f"chain:{c}" for c in chain_ids]))
        conditions.append(drafts.c.alert_id.in_(select(alerts_table.c.id).where(alerts_table.c.chain_id.in_(chain_ids))))
    if not conditions:
        return []
    return [int(r.id) for r in await conn.execute(select(drafts.c.id).where(or_(*conditions)).order_by(drafts.c.id))]


def _where() -> tuple[Any, Any]:
    """A delivery's township and village, from the resident or the organisation of the contact."""
    kind = func.substr(deliveries.c.recipient_key, 1, 2)
    ident = cast(func.substr(deliveries.c.recipient_key, 3), Integer)
    r_area = select(residents.c.area).where(residents.c.id == ident).scalar_subquery()
    r_village = select(residents.c.village).where(residents.c.id == ident).scalar_subquery()
    o_area = (select(organisations.c.area).join(contacts, contacts.c.organisation_id == organisations.c.id)
              .where(contacts.c.id == ident).scalar_subquery())
    area = case((kind == "r:", r_area), (kind == "c:", o_area), else_="test")
    village = case((kind == "r:", func.coalesce(r_village, "")), (kind == "c:", UNIT), else_="")
    return area, village


async def build(conn: AsyncConnection, draft_ids: list[int], *, event_id: int | None = None) -> Report:
    rows: dict[tuple[str, str], Row] = {}

    def row(area: str | None, village: str | None) -> Row:
        key = (area or "", village or "")
        return rows.setdefault(key, Row(*key))

    first = last = None
    if draft_ids:
        area, village = _where()
        area, village = area.label("area"), village.label("village")
        q = (select(area, village, deliveries.c.state, deliveries.c.error_code, func.count(),
                    func.min(deliveries.c.sent_at), func.max(deliveries.c.sent_at))
             .join(messages, messages.c.id == deliveries.c.message_id)
             .where(messages.c.draft_id.in_(draft_ids))
             # By position: PostgreSQL does not see two renderings of the same CASE with bound values as equal.
             .group_by(*BY_POSITION[:4]))
        for a, v, state, code, n, lo, hi in await conn.execute(q):
            r = row(a, v)
            n = int(n)
            r.intended += n
            if state in SENT_STATES:
                r.sent += n
            if state == "delivered":
                r.delivered += n
            if state in ("queued", "in_flight"):
                r.waiting += n
            if code in OPT_OUT_CODES:
                r.opted_out += n
            elif state in ("failed", "expired"):
                r.failed += n
                reason = code or state
                r.failed_by_reason[reason] = r.failed_by_reason.get(reason, 0) + n
            lo, hi = _aware(lo), _aware(hi)
            first = lo if lo and (first is None or lo < first) else first
            last = hi if hi and (last is None or hi > last) else last
        # Residents of those townships who had opted out, so were not sent to (no delivery row).
        codes = await _message_areas(conn, draft_ids)
        if codes:
            q2 = (select(residents.c.area, func.coalesce(residents.c.village, ""), func.count())
                  .where(and_(residents.c.status == "opted_out", residents.c.area.in_(codes)))
                  .group_by(*BY_POSITION[:2]))
            for a, v, n in await conn.execute(q2):
                row(a, v).opted_out += int(n)
    if event_id is not None:
        q3 = select(ack_requests.c.area, ack_requests.c.unit_key, ack_requests.c.state).where(and_(
            ack_requests.c.event_id == event_id, ack_requests.c.kind != "task"))
        for a, unit_key, state in await conn.execute(q3):
            parts = str(unit_key).split(":")
            v = parts[2] if parts[0] == "village" and len(parts) > 2 else ""
            r = row(a or (parts[1] if len(parts) > 1 else ""), v)
            r.ack_asked += 1
            if state == "acknowledged":
                r.acknowledged += 1
    ordered = sorted(rows.values(), key=lambda r: (r.area == "test", r.area, r.village))
    townships: dict[str, Row] = {}
    total = Row("", "")
    for r in ordered:
        townships.setdefault(r.area, Row(r.area, "")).add(r)
        total.add(r)
    return Report(draft_ids, ordered, list(townships.values()), total, first, last)


async def _message_areas(conn: AsyncConnection, draft_ids: list[int]) -> list[str]:
    codes: set[str] = set()
    for (areas,) in await conn.execute(select(messages.c.areas).where(and_(
            messages.c.draft_id.in_(draft_ids), messages.c.audience.in_(("residents", "elderly"))))):
        codes.update(areas or [])
    return sorted(codes)
