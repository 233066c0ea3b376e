"""Hold campaign messages about to go out while a warning for the same areas is pending or being sent.

Drafting already defers an occurrence behind an open warning; this covers the later case: a
campaign approved (or waiting for quiet hours to end) when a warning arrives. Its queued
deliveries that are due soon are pushed back, a little at a time, until no warning overlaps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.campaigns.drafting import OPEN_WARNING_STATES
from alerts.store.tables import deliveries, drafts, messages

log = logging.getLogger("alerts.campaigns")

HOLD_CHECK_SECONDS = 30  # how often the hold runs
LOOKAHEAD = timedelta(seconds=90)  # deliveries due before the next check or two are held now
HOLD_FOR = timedelta(minutes=5)  # each hold is short: it is renewed while the warning is open


async def _open_warning_areas(conn: AsyncConnection) -> tuple[dict[str, list[int]], list[int]]:
    """Areas covered by open warnings (code -> warning draft ids), and warnings that cover everything."""
    rows = await conn.execute(
        select(drafts.c.id, messages.c.areas)
        .select_from(drafts.outerjoin(messages, messages.c.draft_id == drafts.c.id))
        .where(and_(drafts.c.kind.in_(("warning", "update")), drafts.c.state.in_(OPEN_WARNING_STATES),
                    drafts.c.exercise.is_(False))))
    by_area: dict[str, list[int]] = {}
    everywhere: list[int] = []
    for r in rows:
        if not r.areas:
            everywhere.append(int(r.id))
        for code in r.areas or []:
            by_area.setdefault(code, []).append(int(r.id))
    return by_area, everywhere


async def hold_campaign_deliveries(conn: AsyncConnection, now: datetime,
                                   defers: Callable[[str], bool] = lambda campaign: True) -> int:
    """Push back queued campaign deliveries due soon whose areas an open warning covers; how many.

    `defers(campaign id)`: False for campaigns configured with defer_during_warnings: false.
    """
    by_area, everywhere = await _open_warning_areas(conn)
    if not by_area and not everywhere:
        return 0
    rows = await conn.execute(
        select(deliveries.c.id, messages.c.areas, drafts.c.group_key)
        .select_from(deliveries.join(messages, messages.c.id == deliveries.c.message_id)
                     .join(drafts, drafts.c.id == messages.c.draft_id))
        .where(and_(drafts.c.kind == "campaign", deliveries.c.state == "queued",
                    deliveries.c.next_attempt_at <= now + LOOKAHEAD)))
    held: dict[str, list[int]] = {}
    for r in rows:
        campaign = (r.group_key.split(":") + [""])[1]  # group key campaign:<id>:<occurrence>
        if not defers(campaign):
            continue
        blockers = sorted(set(everywhere) | {w for code in (r.areas or []) for w in by_area.get(code, [])})
        if blockers:
            reason = "held: warning draft(s) " + ", ".join(str(b) for b in blockers) + " open for these areas"
            held.setdefault(reason, []).append(int(r.id))
    total = 0
    for reason, ids in held.items():
        result = await conn.execute(
            update(deliveries).where(and_(deliveries.c.id.in_(ids), deliveries.c.state == "queued"))
            .values(next_attempt_at=now + HOLD_FOR, error=reason, updated_at=now))
        total += int(result.rowcount or 0)
        log.info("campaigns: %d deliveries %s", len(ids), reason)
    return total
