"""Queries for drafts, their messages and approvals. State changes are compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select, update
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
                 campaign_occurrence_id: int | None = None) -> int:
    result = await conn.execute(
        drafts.insert().values(
            alert_id=alert_id, campaign_occurrence_id=campaign_occurrence_id, kind=kind, state="pending",
            hazard=hazard, level=level, group_key=group_key, exercise=exercise, expedited=False,
            parent_draft_id=parent_draft_id, created_by=created_by, created_at=at, updated_at=at,
            expires_at=expires_at, reason="", version=1,
        )
    )
    draft_id = int(result.inserted_primary_key[0])
    if items:
        await conn.execute(
            messages.insert(),
            [
                dict(draft_id=draft_id, route=m.route, template_id=m.template_id, template_hash=m.template_hash,
                     template_reviewed=m.template_reviewed, audience=m.audience, channel=m.channel,
                     language=m.language, areas=m.areas, text=m.text, edited=False)
                for m in items
            ],
        )
    return draft_id


async def get(conn: AsyncConnection, draft_id: int) -> DraftRecord | None:
    row = (await conn.execute(select(drafts).where(drafts.c.id == draft_id))).first()
    if row is None:
        return None
    msgs = list(await conn.execute(select(messages).where(messages.c.draft_id == draft_id).order_by(messages.c.id)))
    apps = list(await conn.execute(select(approvals).where(approvals.c.draft_id == draft_id).order_by(approvals.c.id)))
    return DraftRecord(row, msgs, apps)


async def list_drafts(conn: AsyncConnection, *, state: str | None = None, limit: int = 100) -> list[Any]:
    """Pending first, then by level (red first), then oldest first: the order an approver works in."""
    pending_first = case((drafts.c.state == "pending", 0), else_=1)
    q = select(drafts).order_by(pending_first, LEVEL_SORT.desc(), drafts.c.created_at, drafts.c.id).limit(limit)
    if state:
        q = q.where(drafts.c.state == state)
    return list(await conn.execute(q))


async def in_group(conn: AsyncConnection, group_key: str, states: tuple[str, ...]) -> list[Any]:
    q = select(drafts).where(and_(drafts.c.group_key == group_key, drafts.c.state.in_(states)))
    return list(await conn.execute(q))


async def by_state(conn: AsyncConnection, states: tuple[str, ...]) -> list[Any]:
    return list(await conn.execute(select(drafts).where(drafts.c.state.in_(states)).order_by(drafts.c.id)))


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
