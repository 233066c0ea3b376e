"""Monthly statistics (月度统计): warnings received, drafts decided, deliveries and their rates by audience,
people reached (distinct recipients) by audience — the 五进 figures of a 科协 annual report — and
campaign reach per township. Month boundaries are Asia/Shanghai midnights."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.clock import SHANGHAI
from alerts.store.delivery_report import BY_POSITION, _where
from alerts.store.tables import alerts, deliveries, drafts, messages

REACHED = ("sent", "delivered")


@dataclass
class Month:
    start: datetime
    end: datetime
    warnings: dict[str, int] = field(default_factory=dict)  # level (or "none") -> alerts received, drills excluded
    drafts: dict[str, int] = field(default_factory=dict)  # kind -> drafts approved (decided and sent on)
    by_audience: dict[str, dict[str, int]] = field(default_factory=dict)  # audience -> intended/reached/delivered/failed/people
    campaign_townships: dict[str, dict[str, int]] = field(default_factory=dict)  # area -> intended/reached/people


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=SHANGHAI)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=SHANGHAI)
    return start, end


async def month_stats(conn: AsyncConnection, year: int, month: int) -> Month:
    start, end = month_bounds(year, month)
    out = Month(start, end)
    q = (select(func.coalesce(alerts.c.level, "none"), func.count())
         .where(and_(alerts.c.received_at >= start, alerts.c.received_at < end, alerts.c.status == "Actual"))
         .group_by(*BY_POSITION[:1]))
    out.warnings = {str(level): int(n) for level, n in await conn.execute(q)}
    q = (select(drafts.c.kind, func.count()).where(and_(
        drafts.c.decided_at >= start, drafts.c.decided_at < end, drafts.c.exercise.is_(False),
        drafts.c.state.in_(("approved", "dispatching", "sent", "partly_failed", "withdrawn"))))
         .group_by(drafts.c.kind))
    out.drafts = {str(kind): int(n) for kind, n in await conn.execute(q)}
    in_month = and_(deliveries.c.created_at >= start, deliveries.c.created_at < end, drafts.c.exercise.is_(False))
    joined = deliveries.join(messages, messages.c.id == deliveries.c.message_id).join(
        drafts, drafts.c.id == messages.c.draft_id)
    q = (select(messages.c.audience, deliveries.c.state, func.count(), func.count(distinct(deliveries.c.recipient_key)))
         .select_from(joined).where(in_month).group_by(messages.c.audience, deliveries.c.state))
    for audience, state, n, _people in await conn.execute(q):
        row = out.by_audience.setdefault(str(audience), {"intended": 0, "reached": 0, "delivered": 0, "failed": 0,
                                                          "people": 0})
        row["intended"] += int(n)
        if state in REACHED:
            row["reached"] += int(n)
        if state == "delivered":
            row["delivered"] += int(n)
        if state in ("failed", "expired"):
            row["failed"] += int(n)
    q = (select(messages.c.audience, func.count(distinct(deliveries.c.recipient_key))).select_from(joined)
         .where(and_(in_month, deliveries.c.state.in_(REACHED))).group_by(messages.c.audience))
    for audience, people in await conn.execute(q):
        out.by_audience[str(audience)]["people"] = int(people)
    area, _village = _where()
    q = (select(area.label("area"), deliveries.c.state, func.count(), func.count(distinct(deliveries.c.recipient_key)))
         .select_from(joined).where(and_(in_month, drafts.c.kind == "campaign")).group_by(*BY_POSITION[:2]))
    for a, state, n, _people in await conn.execute(q):
        row = out.campaign_townships.setdefault(str(a), {"intended": 0, "reached": 0, "people": 0})
        row["intended"] += int(n)
        if state in REACHED:
            row["reached"] += int(n)
    q = (select(area.label("area"), func.count(distinct(deliveries.c.recipient_key))).select_from(joined)
         .where(and_(in_month, drafts.c.kind == "campaign", deliveries.c.state.in_(REACHED)))
         .group_by(*BY_POSITION[:1]))
    for a, people in await conn.execute(q):
        out.campaign_townships.setdefault(str(a), {"intended": 0, "reached": 0, "people": 0})["people"] = int(people)
    return out


def as_rows(stats: Month) -> list[dict[str, Any]]:
    """For the CSV: one row per figure."""
    rows: list[dict[str, Any]] = []
    for level, n in sorted(stats.warnings.items()):
        rows.append({"section": "warnings", "key": level, "figure": "received", "value": n})
    for kind, n in sorted(stats.drafts.items()):
        rows.append({"section": "drafts", "key": kind, "figure": "approved", "value": n})
    for audience, figures in sorted(stats.by_audience.items()):
        rows.extend({"section": "audience", "key": audience, "figure": k, "value": v} for k, v in figures.items())
    for area, figures in sorted(stats.campaign_townships.items()):
        rows.extend({"section": "campaign_township", "key": area, "figure": k, "value": v} for k, v in figures.items())
    return rows
