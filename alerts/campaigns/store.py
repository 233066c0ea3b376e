"""Queries for campaign occurrences: claimed once under (campaign, at), then moved by compare-and-set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import campaign_occurrences as occ
from alerts.store.tables import deliveries, drafts, messages

# fired: recorded, not yet drafted; drafted: its draft exists; deferred: waiting for a warning to
# finish; missed: found too late (or deferred too long); failed: nothing could be drafted.
STATES = ("fired", "drafted", "deferred", "missed", "failed")


async def claim(conn: AsyncConnection, campaign: str, at: datetime, *, state: str, now: datetime,
                trigger: str = "calendar", by: str | None = None, params: dict[str, Any] | None = None,
                reason: str = "") -> int | None:
    """Record an occurrence; its id, or None when it was already recorded (by us, a restart or a replica)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(occ)
    stmt = insert.values(campaign=campaign, at=at, state=state, trigger=trigger, triggered_by=by,
                         params=params or {}, recorded_at=now, updated_at=now, reason=reason)
    stmt = stmt.on_conflict_do_nothing(index_elements=["campaign", "at"]).returning(occ.c.id)
    row = (await conn.execute(stmt)).first()
    return int(row[0]) if row else None


async def lock_for_work(conn: AsyncConnection, occurrence_id: int, now: datetime) -> Any | None:
    """Take an occurrence that is fired or deferred; None if another worker finished it first.

    The UPDATE holds the row until the caller's transaction ends, so a second worker waits and then
    finds the state changed (PostgreSQL re-checks the WHERE); SQLite has one writer anyway.
    """
    result = await conn.execute(
        update(occ).where(and_(occ.c.id == occurrence_id, occ.c.state.in_(("fired", "deferred"))))
        .values(updated_at=now)
    )
    if not result.rowcount:
        return None
    return (await conn.execute(select(occ).where(occ.c.id == occurrence_id))).first()


async def set_state(conn: AsyncConnection, occurrence_id: int, state: str, *, now: datetime, reason: str = "") -> None:
    await conn.execute(update(occ).where(occ.c.id == occurrence_id).values(state=state, updated_at=now, reason=reason))


async def last_calendar_at(conn: AsyncConnection, campaign: str) -> datetime | None:
    row = (await conn.execute(
        select(func.max(occ.c.at)).where(and_(occ.c.campaign == campaign, occ.c.trigger == "calendar"))
    )).first()
    return row[0] if row else None  # max() keeps the column's type, so this is UTC-aware


async def in_states(conn: AsyncConnection, states: tuple[str, ...]) -> list[Any]:
    return list(await conn.execute(select(occ).where(occ.c.state.in_(states)).order_by(occ.c.at, occ.c.id)))


async def get(conn: AsyncConnection, occurrence_id: int) -> Any | None:
    return (await conn.execute(select(occ).where(occ.c.id == occurrence_id))).first()


async def recent(conn: AsyncConnection, *, campaign: str | None = None, limit: int = 200) -> list[Any]:
    q = select(occ, drafts.c.id.label("draft_id"), drafts.c.state.label("draft_state")).select_from(
        occ.outerjoin(drafts, drafts.c.campaign_occurrence_id == occ.c.id))
    if campaign:
        q = q.where(occ.c.campaign == campaign)
    return list(await conn.execute(q.order_by(occ.c.at.desc(), occ.c.id.desc()).limit(limit)))


async def by_audience(conn: AsyncConnection, campaign: str) -> dict[str, dict[str, int]]:
    """For one campaign: deliveries per audience and state (what was sent and delivered, to whom)."""
    rows = await conn.execute(
        select(messages.c.audience, deliveries.c.state, func.count())
        .select_from(occ.join(drafts, drafts.c.campaign_occurrence_id == occ.c.id)
                     .join(messages, messages.c.draft_id == drafts.c.id)
                     .join(deliveries, deliveries.c.message_id == messages.c.id))
        .where(occ.c.campaign == campaign)
        .group_by(messages.c.audience, deliveries.c.state)
    )
    out: dict[str, dict[str, int]] = {}
    for audience, state, count in rows:
        out.setdefault(audience, {})[state] = int(count)
    return out
