"""How many people and organisations a draft would reach, per area and audience (before fan-out)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.outbox.fanout import ORG_AUDIENCES
from alerts.store.tables import organisations, residents


@dataclass
class EstimateRow:
    area: str  # area name
    audience: str
    count: int
    unit: str  # "人" (residents) or "家" (organisations)


async def recipients_estimate(conn: AsyncConnection, svc: Any, draft: Any, messages: list[Any]) -> list[EstimateRow]:
    """Active residents (elderly: their group) and active organisations of the audience's kinds, per area.

    An estimate: suppression of people already reached in the alert chain is applied only at fan-out.
    """
    if draft.exercise:
        return [EstimateRow("演练测试号码", "test", len(svc.settings.workflow.test_audience.phones), "个")]
    rows: list[EstimateRow] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for m in messages:
        areas = tuple(sorted(m.areas or []))
        if (m.audience, areas) in seen or m.channel == "voice":
            continue
        seen.add((m.audience, areas))
        counts: dict[str, int] = {}
        if m.audience in ("residents", "elderly"):
            cond = [residents.c.status == "active", residents.c.area.in_(areas)]
            if m.audience == "elderly":
                cond.append(or_(residents.c.groups == "elderly", residents.c.groups.like("%elderly%")))
            q = select(residents.c.area, func.count()).where(and_(*cond)).group_by(residents.c.area)
            unit = "人"
        elif m.audience in ORG_AUDIENCES:
            q = (select(organisations.c.area, func.count())
                 .where(and_(organisations.c.status == "active", organisations.c.area.in_(areas),
                             organisations.c.kind.in_(ORG_AUDIENCES[m.audience])))
                 .group_by(organisations.c.area))
            unit = "家"
        else:
            continue
        for area, n in await conn.execute(q):
            counts[str(area)] = int(n)
        for code in areas:
            name = (svc.areas.names([code]) or [code])[0]
            rows.append(EstimateRow(name, m.audience, counts.get(code, 0), unit))
    return rows


@dataclass
class Reach:
    """Whom one message reaches: the count (people or organisations) and the townships by name."""

    count: int
    unit: str
    townships: list[str]


def reach_by_message(estimate: list[EstimateRow], message: Any, areas: Any) -> Reach | None:
    """The estimate rows that belong to this message's audience and townships, summed."""
    if message.channel == "voice":
        return None
    if estimate and estimate[0].audience == "test":
        return Reach(estimate[0].count, estimate[0].unit, [estimate[0].area])
    names = areas.names(sorted(message.areas or []))
    rows = [r for r in estimate if r.audience == message.audience and r.area in names]
    if not rows:
        return None
    return Reach(sum(r.count for r in rows), rows[0].unit, names)


def people_zh(n: int) -> str:
    """A count of people as said aloud: 450000 → 45万, 12345 → 1.2万, 812 → 812."""
    if n >= 100_000:
        return f"{round(n / 10_000)}万"
    if n >= 10_000:
        return f"{n / 10_000:.1f}万".replace(".0万", "万")
    return str(n)


def citywide_red(svc: Any, draft: Any, area_codes: list[str], estimate: list[EstimateRow]) -> str | None:
    """For a red warning to every township, the sentence the approver confirms (将向高平市全境约45万人发送);
    otherwise None. The count is the residents it reaches (the configured population when no resident is reached)."""
    townships = set(svc.areas.townships)
    if draft.level != "red" or draft.exercise or not townships or not townships <= set(area_codes):
        return None
    residents_count = sum(r.count for r in estimate if r.audience == "residents")
    population = svc.areas.population(sorted(townships)) or 0
    return f"将向{svc.areas.region_name}全境约{people_zh(residents_count or population)}人发送"
