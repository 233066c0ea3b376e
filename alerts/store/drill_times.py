"""The times of an exercise (or any warning) step by step, for the drill scorecard (演练评估):
received → drafted → approved → first sent → 95 % delivered → acknowledgements (叫应)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import (
    ack_requests,
    approvals,
    deliveries,
    drafts,
    event_chains,
    messages,
    raw_inputs,
)
from alerts.store.tables import alerts as alerts_table

# The share of intended deliveries that counts as "the public reached" (12379 practice: within 10 minutes).
REACHED_SHARE = 0.95


@dataclass
class Times:
    received: datetime | None
    drafted: datetime | None
    approved: datetime | None
    first_sent: datetime | None
    reached: datetime | None  # when REACHED_SHARE of the intended deliveries were delivered (else sent)
    reached_by: str  # "delivered" (receipts) or "sent" (no receipts from the channel)
    acks_first: datetime | None
    acks_all: datetime | None
    acks_asked: int
    acks_done: int
    intended: int


def _aware(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


async def _reached(conn: AsyncConnection, draft_id: int, intended: int, state: tuple[str, ...],
                   column: Any) -> datetime | None:
    """The moment the REACHED_SHARE-th delivery reached `state` (ordered by `column`)."""
    need = max(1, int(intended * REACHED_SHARE + 0.999999))
    q = (select(column).join(messages, messages.c.id == deliveries.c.message_id)
         .where(and_(messages.c.draft_id == draft_id, deliveries.c.state.in_(state), column.is_not(None)))
         .order_by(column).offset(need - 1).limit(1))
    return _aware((await conn.execute(q)).scalar())


async def drill_times(conn: AsyncConnection, draft_id: int) -> Times | None:
    d = (await conn.execute(select(drafts).where(drafts.c.id == draft_id))).first()
    if d is None:
        return None
    received = None
    chain_id = None
    if d.alert_id is not None:
        received = _aware((await conn.execute(select(func.min(raw_inputs.c.received_at))
                                              .where(raw_inputs.c.alert_id == d.alert_id))).scalar())
        chain_id = (await conn.execute(select(alerts_table.c.chain_id).where(alerts_table.c.id == d.alert_id))).scalar()
    approved = _aware((await conn.execute(select(func.max(approvals.c.at)).where(and_(
        approvals.c.draft_id == draft_id, approvals.c.decision == "approve")))).scalar()) or _aware(d.decided_at)
    base = (select(func.count(), func.min(deliveries.c.sent_at))
            .join(messages, messages.c.id == deliveries.c.message_id).where(messages.c.draft_id == draft_id))
    intended, first_sent = (await conn.execute(base)).one()
    intended = int(intended or 0)
    reached = await _reached(conn, draft_id, intended, ("delivered",), deliveries.c.updated_at) if intended else None
    reached_by = "delivered"
    if reached is None and intended:
        reached = await _reached(conn, draft_id, intended, ("sent", "delivered"), deliveries.c.sent_at)
        reached_by = "sent"
    acks_first = acks_all = None
    asked = done = 0
    if chain_id is not None:
        event_id = (await conn.execute(select(event_chains.c.event_id)
                                       .where(event_chains.c.chain_id == chain_id))).scalar()
        if event_id is not None:
            rows = list(await conn.execute(select(ack_requests.c.state, ack_requests.c.ack_at).where(and_(
                ack_requests.c.event_id == event_id, ack_requests.c.kind != "task"))))
            asked = len(rows)
            times = sorted(t for t in (_aware(r.ack_at) for r in rows if r.state == "acknowledged") if t)
            done = len(times)
            acks_first = times[0] if times else None
            acks_all = times[-1] if times and done == asked else None
    return Times(received, _aware(d.created_at), approved, _aware(first_sent), reached, reached_by, acks_first,
                 acks_all, asked, done, intended)
