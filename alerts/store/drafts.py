"""Queries for drafts, their messages and approvals. State changes are compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import approvals, drafts, messages
from alerts.workflow.states import check_transition

LEVEL_SORT = case(
    (drafts.c.level == "red", 4), (drafts.c.level == "orange", 3), (drafts.c.level == "yellow", 2),
    (drafts.c.level == "blue", 1), else_=0,
)


@dataclass
class NewMessage:
    route: str
    template_id: str
    template_hash: str
    template_reviewed: bool
    audience: str
    channel: str
    language: str
    areas: list[str]
    text: str
    # The template's variables as rendered (domestic SMS providers send a template code with them).
    params: dict[str, str] | None = None
    reach: str = "all"  # all, chain (those the chain reached before) or new (those it has not reached)


@dataclass
class DraftRecord:
    row: Any
    messages: list[Any] = field(default_factory=list)
    approvals: list[Any] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.row.id)

    @property
    def state(self) -> str:
        return str(self.row.state)


async def create(conn: AsyncConnection, *, alert_id: int | None, kind: str, hazard: str | None, level: str | None,
                 group_key: str, exercise: bool, created_by: str, at: datetime, expires_at: datetime | None,
                 items: list[NewMessage], parent_draft_id: int | None = None,
                 campaign_occurrence_id: int | None = None, stage: str | None = None) -> int:
    result = await conn.execute(
        drafts.insert().values(
            alert_id=alert_id, campaign_occurrence_id=campaign_occurrence_id, kind=kind, state="pending",
            hazard=hazard, level=level, group_key=group_key, exercise=exercise, expedited=False,
            parent_draft_id=parent_draft_id, created_by=created_by, created_at=at, updated_at=at,
            expires_at=expires_at, reason="", version=1, stage=stage,
        )
    )
    draft_id = int(result.inserted_primary_key[0])
    if items:
        await conn.execute(
            messages.insert(),
            [
                dict(draft_id=draft_id, route=m.route, template_id=m.template_id, template_hash=m.template_hash,
                     template_reviewed=m.template_reviewed, audience=m.audience, channel=m.channel,
                     language=m.language, areas=m.areas, text=m.text, edited=False, params=m.params,
                     reach=m.reach)
                for m in items
            ],
        )
    return draft_id


async def get(conn: AsyncConnection, draft_id: int, *, for_update: bool = False) -> DraftRecord | None:
    q = select(drafts).where(drafts.c.id == draft_id)
    if for_update:
        q = q.with_for_update()  # PostgreSQL row lock; SQLite's write transaction is already exclusive
    row = (await conn.execute(q)).first()
    if row is None:
        return None
    msgs = list(await conn.execute(select(messages).where(messages.c.draft_id == draft_id).order_by(messages.c.id)))
    apps = list(await conn.execute(select(approvals).where(approvals.c.draft_id == draft_id).order_by(approvals.c.id)))
    return DraftRecord(row, msgs, apps)


async def list_drafts(conn: AsyncConnection, *, state: str | None = None, states: tuple[str, ...] | None = None,
                      limit: int = 100) -> list[Any]:
    """Pending first, then by level (red first), then the nearest deadline, then oldest first:
    the order an approver works in. Decided drafts follow, most recent first."""
    pending = drafts.c.state == "pending"
    q = select(drafts).order_by(
        case((pending, 0), else_=1),
        case((pending, LEVEL_SORT), else_=0).desc(),
        case((and_(pending, drafts.c.expires_at.is_(None)), 1), else_=0),
        case((pending, drafts.c.expires_at), else_=None),
        case((pending, drafts.c.created_at), else_=None),
        drafts.c.updated_at.desc(), drafts.c.id.desc(),
    ).limit(limit)
    if state:
        q = q.where(drafts.c.state == state)
    if states:
        q = q.where(drafts.c.state.in_(states))
    return list(await conn.execute(q))


async def in_group(conn: AsyncConnection, group_key: str, states: tuple[str, ...]) -> list[Any]:
    q = select(drafts).where(and_(drafts.c.group_key == group_key, drafts.c.state.in_(states)))
    return list(await conn.execute(q))


async def by_state(conn: AsyncConnection, states: tuple[str, ...]) -> list[Any]:
    return list(await conn.execute(select(drafts).where(drafts.c.state.in_(states)).order_by(drafts.c.id)))


async def pending_for_supersede(conn: AsyncConnection, *, prefix: str, group_key: str | None, hazard: str | None,
                                lower_levels: list[str], unlevelled: bool) -> list[Any]:
    """Pending drafts a new message could supersede, by id: offers whose key starts with `prefix`
    (combined), the chain's own (`group_key`), and those of `hazard` at one of `lower_levels` (or with
    no level, when `unlevelled`). A superset of what the caller acts on; it checks each itself.
    Without it every push read every pending draft, however unrelated."""
    reasons: list[Any] = [drafts.c.group_key.startswith(prefix, autoescape=True)]
    if group_key is not None:
        reasons.append(drafts.c.group_key == group_key)
    levels: list[Any] = [drafts.c.level.in_(lower_levels)] if lower_levels else []
    if unlevelled:
        levels.append(drafts.c.level.is_(None))
    if hazard is not None and levels:
        reasons.append(and_(drafts.c.hazard == hazard, or_(*levels)))
    q = select(drafts).where(and_(drafts.c.state == "pending", or_(*reasons))).order_by(drafts.c.id)
    return list(await conn.execute(q))


async def transition(conn: AsyncConnection, draft_id: int, current: str, wanted: str, *, at: datetime,
                     by: str | None = None, reason: str = "", **values: Any) -> bool:
    """Move a draft from `current` to `wanted` if nobody else moved it first; False if they did."""
    check_transition(current, wanted)
    extra: dict[str, Any] = dict(values)
    if by is not None and wanted in ("approved", "rejected", "withdrawn", "expired", "superseded"):
        extra.update(decided_by=by, decided_at=at)
    if reason:
        extra["reason"] = reason
    result = await conn.execute(
        update(drafts)
        .where(and_(drafts.c.id == draft_id, drafts.c.state == current))
        .values(state=wanted, updated_at=at, version=drafts.c.version + 1, **extra)
    )
    return bool(result.rowcount)


async def add_approval(conn: AsyncConnection, draft_id: int, *, user_name: str, role: str, decision: str,
                       at: datetime, note: str = "") -> None:
    await conn.execute(
        approvals.insert().values(draft_id=draft_id, user_name=user_name, role=role, decision=decision, at=at, note=note)
    )


async def edit_message(conn: AsyncConnection, message_id: int, text: str, *, by: str, at: datetime) -> None:
    row = (await conn.execute(select(messages.c.draft_id).where(messages.c.id == message_id))).first()
    await conn.execute(
        update(messages).where(messages.c.id == message_id).values(text=text, edited=True, expert_reviewed_by=None)
    )
    if row is not None:
        await conn.execute(
            update(drafts).where(drafts.c.id == row.draft_id)
            .values(last_edited_by=by, updated_at=at, version=drafts.c.version + 1)
        )
        # An edit invalidates earlier approvals and reviews: they approved other words.
        await conn.execute(approvals.delete().where(approvals.c.draft_id == row.draft_id))


async def counts_by_state(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(drafts.c.state, func.count()).group_by(drafts.c.state))
    return {r[0]: int(r[1]) for r in rows}


async def chain(conn: AsyncConnection, group_key: str) -> list[Any]:
    """Every draft of one alert chain (warning, updates, all-clear, corrections), oldest first."""
    return list(await conn.execute(select(drafts).where(drafts.c.group_key == group_key).order_by(drafts.c.id)))


async def delivery_counts(conn: AsyncConnection, draft_ids: list[int]) -> dict[int, dict[str, int]]:
    """Deliveries per state for each draft: what the sent-messages page shows."""
    from alerts.store.tables import deliveries

    out: dict[int, dict[str, int]] = {d: {} for d in draft_ids}
    if not draft_ids:
        return out
    rows = await conn.execute(
        select(messages.c.draft_id, deliveries.c.state, func.count())
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(messages.c.draft_id.in_(draft_ids))
        .group_by(messages.c.draft_id, deliveries.c.state)
    )
    for draft_id, state, n in rows:
        out[int(draft_id)][str(state)] = int(n)
    return out
