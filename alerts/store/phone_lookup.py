"""What was sent to one phone number: the duty officer answering a resident's call (号码查询).

By the full number, or by its last four digits within one township (a caller who gives only those).
Reads residents and deliveries; the caller of `find` audits the lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import deliveries, drafts, messages, residents

MAX_PEOPLE = 20  # last digits within a township can match several people; more is not a lookup
MAX_DELIVERIES = 200


@dataclass
class Sent:
    at: datetime | None  # when it was sent (or, not sent yet, when it was queued)
    draft_id: int
    kind: str
    hazard: str | None
    level: str | None
    exercise: bool
    audience: str
    channel: str
    text: str
    state: str
    error_code: str | None


@dataclass
class Person:
    phone: str  # E.164
    area: str | None
    village: str | None
    status: str  # active, opted_out, or "unknown" (a number we only sent to, e.g. a drill phone)
    sent: list[Sent]


async def _sent_to(conn: AsyncConnection, keys: list[str], phone: str) -> list[Sent]:
    q = (select(deliveries.c.state, deliveries.c.error_code, deliveries.c.sent_at, deliveries.c.created_at,
                deliveries.c.channel, messages.c.audience, messages.c.text, drafts.c.id, drafts.c.kind,
                drafts.c.hazard, drafts.c.level, drafts.c.exercise)
         .join(messages, messages.c.id == deliveries.c.message_id).join(drafts, drafts.c.id == messages.c.draft_id)
         .where(or_(deliveries.c.recipient_key.in_(keys), and_(deliveries.c.channel == "sms",
                                                               deliveries.c.address == phone)))
         .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(MAX_DELIVERIES))
    return [Sent(r.sent_at or r.created_at, int(r.id), r.kind, r.hazard, r.level, bool(r.exercise), r.audience,
                 r.channel, r.text, r.state, r.error_code) for r in await conn.execute(q)]


async def find(conn: AsyncConnection, *, phone: str | None = None, last_digits: str | None = None,
               area: str | None = None) -> list[Person]:
    """The people a full number (E.164) or last digits within a township name, each with what they were sent."""
    if phone:
        row = (await conn.execute(select(residents).where(residents.c.phone == phone))).first()
        keys = [f"p:{phone}"] + ([f"r:{row.id}"] if row else [])
        sent = await _sent_to(conn, keys, phone)
        if row is None and not sent:
            return []
        return [Person(phone, row.area if row else None, row.village if row else None,
                       row.status if row else "unknown", sent)]
    if not (last_digits and area):
        return []
    rows = list(await conn.execute(select(residents).where(and_(
        residents.c.area == area, residents.c.phone.like(f"%{last_digits}"))).order_by(residents.c.id)
        .limit(MAX_PEOPLE + 1)))
    return [Person(r.phone, r.area, r.village, r.status, await _sent_to(conn, [f"r:{r.id}", f"p:{r.phone}"], r.phone))
            for r in rows[:MAX_PEOPLE]]
