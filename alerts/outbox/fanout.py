"""Fan-out: resolve recipients for each approved message and write one delivery row each.

Runs inside the approval's transaction, so an approval and its deliveries commit together.
Rows are written set-based (INSERT ... SELECT) so a city-wide red warning stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import level_rank
from alerts.recipients import normalise_phone
from alerts.store.tables import contacts, deliveries, drafts, messages, organisations, residents

# Which organisation kinds each audience reaches.
ORG_AUDIENCES: dict[str, tuple[str, ...]] = {
    "schools": ("school",),
    "enterprises": ("enterprise", "coal_mine"),
    "villages": ("village",),
    "communities": ("community",),
}
# Which contact channels carry each message channel.
CONTACT_CHANNELS: dict[str, tuple[str, ...]] = {
    "sms": ("sms",),
    "notice": ("email", "notice"),
    "im": ("wecom", "dingtalk", "feishu", "webhook"),
    "email": ("email",),
}


@dataclass
class FanoutResult:
    deliveries: int
    by_message: dict[int, int]


def priority(level: str | None, kind: str) -> int:
    """Higher levels first, then warnings before campaigns."""
    return (level_rank(level) + 2) * 10 + (0 if kind == "campaign" else 5)


def _insert(conn: AsyncConnection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(deliveries)


async def fan_out(conn: AsyncConnection, draft: Any, msgs: list[Any], *, now: datetime,
                  test_phones: list[str]) -> FanoutResult:
    prio = priority(draft.level, draft.kind)
    expires = draft.expires_at
    by_message: dict[int, int] = {}
    has_english = {m.audience for m in msgs if m.language == "en"}
    for m in msgs:
        if m.channel == "voice":
            continue  # read-out text for broadcasters; nothing is sent automatically
        if draft.exercise:
            count = await _to_phones(conn, m, test_phones, prio, now, expires) if m.channel == "sms" else 0
        elif m.audience in ("residents", "elderly"):
            count = await _to_residents(conn, draft, m, prio, now, expires, english_exists=m.audience in has_english)
        elif m.audience in ORG_AUDIENCES:
            count = await _to_organisations(conn, m, prio, now, expires)
        else:
            count = 0
        by_message[m.id] = count
    return FanoutResult(deliveries=sum(by_message.values()), by_message=by_message)


async def _to_residents(conn: AsyncConnection, draft: Any, m: Any, prio: int, now: datetime,
                        expires: datetime | None, *, english_exists: bool) -> int:
    if m.channel != "sms":
        return 0
    conditions = [residents.c.status == "active", residents.c.area.in_(list(m.areas or []))]
    if m.audience == "elderly":
        conditions.append(or_(residents.c.groups == "elderly", residents.c.groups.like("%elderly%")))
    if m.language == "en":
        conditions.append(residents.c.language == "en")
    elif english_exists:
        conditions.append(residents.c.language != "en")
    # Suppression: someone already reached in this alert chain at this or a higher level.
    earlier = (
        select(literal(1))
        .select_from(deliveries.join(messages, messages.c.id == deliveries.c.message_id)
                     .join(drafts, drafts.c.id == messages.c.draft_id))
        .where(and_(
            drafts.c.group_key == draft.group_key, drafts.c.id != draft.id,
            deliveries.c.recipient_key == literal("r:") + cast(residents.c.id, String),
            deliveries.c.state.in_(("sent", "delivered", "in_flight", "queued")),
            _level_rank_sql(drafts.c.level) >= level_rank(draft.level),
            drafts.c.kind != "all_clear",
        ))
    )
    if draft.kind != "all_clear":
        conditions.append(~exists(earlier))
    source = select(
        literal(m.id, Integer), literal("r:") + cast(residents.c.id, String), literal("sms"), residents.c.phone,
        literal(prio, Integer), literal("queued"), literal(0, Integer), literal(False), literal(now, deliveries.c.next_attempt_at.type),
        literal(expires, deliveries.c.expires_at.type), literal(now, deliveries.c.created_at.type),
        literal(now, deliveries.c.updated_at.type), literal(""),
    ).where(and_(*conditions))
    stmt = _insert(conn).from_select(
        ["message_id", "recipient_key", "channel", "address", "priority", "state", "attempts", "in_doubt",
         "next_attempt_at", "expires_at", "created_at", "updated_at", "error"],
        source,
    ).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return int(result.rowcount or 0)


def _level_rank_sql(col: Any) -> Any:
    from sqlalchemy import case

    return case((col == "red", 3), (col == "orange", 2), (col == "yellow", 1), (col == "blue", 0), else_=-1)


async def _to_organisations(conn: AsyncConnection, m: Any, prio: int, now: datetime, expires: datetime | None) -> int:
    kinds = ORG_AUDIENCES[m.audience]
    channels = CONTACT_CHANNELS.get(m.channel, ())
    rows = list(await conn.execute(
        select(contacts.c.id, contacts.c.channel)
        .join(organisations, organisations.c.id == contacts.c.organisation_id)
        .where(and_(organisations.c.kind.in_(kinds), organisations.c.status == "active",
                    organisations.c.area.in_(list(m.areas or [])), contacts.c.channel.in_(channels)))
    ))
    return await _insert_rows(conn, m, [(f"c:{r.id}", r.channel, f"contact:{r.id}") for r in rows], prio, now, expires)


async def _to_phones(conn: AsyncConnection, m: Any, phones: list[str], prio: int, now: datetime,
                     expires: datetime | None) -> int:
    normal = [p for p in (normalise_phone(x) for x in phones) if p]
    return await _insert_rows(conn, m, [(f"p:{p}", "sms", p) for p in normal], prio, now, expires)


async def _insert_rows(conn: AsyncConnection, m: Any, targets: list[tuple[str, str, str]], prio: int,
                       now: datetime, expires: datetime | None) -> int:
    if not targets:
        return 0
    values = [
        dict(message_id=m.id, recipient_key=key, channel=channel, address=address, priority=prio, state="queued",
             attempts=0, in_doubt=False, next_attempt_at=now, expires_at=expires, created_at=now, updated_at=now,
             error="")
        for key, channel, address in targets
    ]
    result = await conn.execute(_insert(conn).on_conflict_do_nothing(), values)
    return int(result.rowcount or 0)


async def count_for_draft(conn: AsyncConnection, draft_id: int) -> dict[str, int]:
    rows = await conn.execute(
        select(deliveries.c.state, func.count())
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(messages.c.draft_id == draft_id)
        .group_by(deliveries.c.state)
    )
    return {r[0]: int(r[1]) for r in rows}
