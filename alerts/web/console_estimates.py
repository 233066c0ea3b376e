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
