"""Queries for events, their chains, their log and their tasks. State changes are compare-and-set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import level_rank
from alerts.store.tables import event_chains, event_log, event_tasks, events

MAX_ID = 2**63 - 1  # ids beyond this are answered "not found", never a database error


def insert_for(conn: AsyncConnection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def valid_id(value: object) -> int | None:
    """A database id from a path or body value, or None (then the caller answers 404)."""
    text = str(value)
    if not text.isdigit() or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


@dataclass
class NewTask:
    department: str
    task: str
    title: str
    text: str
    due_at: datetime


async def create_event(conn: AsyncConnection, *, title: str, hazard: str | None, level: str | None, areas: list[str],
                       origin: str, by: str, at: datetime) -> int:
    result = await conn.execute(events.insert().values(
        title=title[:200], hazard=hazard, level=level, areas=sorted(areas), state="open", origin=origin,
        opened_at=at, opened_by=by, close_note="", updated_at=at))
    return int(result.inserted_primary_key[0])


async def get_event(conn: AsyncConnection, event_id: int) -> Any | None:
    return (await conn.execute(select(events).where(events.c.id == event_id))).first()


async def list_events(conn: AsyncConnection, *, state: str | None = None, limit: int = 100) -> list[Any]:
    q = select(events).order_by(events.c.state.desc(), events.c.opened_at.desc(), events.c.id.desc()).limit(limit)
    if state:
        q = q.where(events.c.state == state)
    return list(await conn.execute(q))


async def open_events(conn: AsyncConnection) -> list[Any]:
    return list(await conn.execute(select(events).where(events.c.state == "open").order_by(events.c.id)))


async def event_for_chain(conn: AsyncConnection, chain_id: int) -> int | None:
    row = (await conn.execute(select(event_chains.c.event_id).where(event_chains.c.chain_id == chain_id))).first()
    return int(row.event_id) if row else None


async def link_chain(conn: AsyncConnection, event_id: int, chain_id: int, at: datetime) -> bool:
    """True when the chain was linked now; False when it already belonged to an event."""
    result = await conn.execute(insert_for(conn, event_chains).values(event_id=event_id, chain_id=chain_id,
                                                                      linked_at=at).on_conflict_do_nothing())
    return bool(result.rowcount)


async def chains_of(conn: AsyncConnection, event_id: int) -> list[int]:
    rows = await conn.execute(select(event_chains.c.chain_id).where(event_chains.c.event_id == event_id)
                              .order_by(event_chains.c.id))
    return [int(r.chain_id) for r in rows]


async def raise_level(conn: AsyncConnection, event_id: int, *, level: str | None, areas: list[str],
                      at: datetime) -> bool:
    """Widen the event to a higher level and more areas; True when the level went up."""
    higher, _ = await raise_level_and_read(conn, event_id, level=level, areas=areas, at=at)
    return higher


async def raise_level_and_read(conn: AsyncConnection, event_id: int, *, level: str | None, areas: list[str],
                               at: datetime, row: Any | None = None) -> tuple[bool, Any | None]:
    """raise_level, and the event as it is now (None if there is none): what was written is not read again.
    `row` is the event as already read in this transaction, if the caller has it."""
    if row is None:
        row = await get_event(conn, event_id)
    if row is None:
        return False, None
    higher = level_rank(level) > level_rank(row.level)
    merged = sorted(set(row.areas or []) | set(areas))
    if higher or merged != list(row.areas or []):
        await conn.execute(update(events).where(events.c.id == event_id).values(
            level=level if higher else row.level, areas=merged, updated_at=at))
        # The row as written, for callers that go on with the event (attribute access like a Row).
        row = SimpleNamespace(**{**row._mapping, "level": level if higher else row.level, "areas": merged,
                                 "updated_at": at})
    return higher, row


async def close_event(conn: AsyncConnection, event_id: int, *, by: str, note: str, at: datetime) -> bool:
    result = await conn.execute(update(events).where(and_(events.c.id == event_id, events.c.state == "open"))
                                .values(state="closed", closed_at=at, closed_by=by, close_note=note, updated_at=at))
    return bool(result.rowcount)


async def log(conn: AsyncConnection, event_id: int, *, at: datetime, actor: str, kind: str, text: str,
              ref: str = "") -> None:
    await conn.execute(event_log.insert().values(event_id=event_id, at=at, actor=actor[:100], kind=kind,
                                                 text=text, ref=ref[:100]))


async def log_entries(conn: AsyncConnection, event_id: int) -> list[Any]:
    return list(await conn.execute(select(event_log).where(event_log.c.event_id == event_id)
                                   .order_by(event_log.c.at, event_log.c.id)))


async def add_task(conn: AsyncConnection, event_id: int, task: NewTask, at: datetime) -> int | None:
    """The task's id, or None when the event already has this department's task."""
    result = await conn.execute(insert_for(conn, event_tasks).values(
        event_id=event_id, department=task.department, task=task.task, title=task.title, text=task.text,
        due_at=task.due_at, state="open", created_at=at, note="").on_conflict_do_nothing()
        .returning(event_tasks.c.id))
    row = result.first()
    return int(row.id) if row else None


async def task_keys(conn: AsyncConnection, event_id: int) -> set[tuple[str, str]]:
    """(department, task) of the tasks the event has: one read instead of one insert attempt per task."""
    rows = await conn.execute(select(event_tasks.c.department, event_tasks.c.task)
                              .where(event_tasks.c.event_id == event_id))
    return {(r.department, r.task) for r in rows}


async def tasks_of(conn: AsyncConnection, event_id: int) -> list[Any]:
    return list(await conn.execute(select(event_tasks).where(event_tasks.c.event_id == event_id)
                                   .order_by(event_tasks.c.id)))


async def get_task(conn: AsyncConnection, task_id: int) -> Any | None:
    return (await conn.execute(select(event_tasks).where(event_tasks.c.id == task_id))).first()


async def set_task_state(conn: AsyncConnection, task_id: int, wanted: str, *, at: datetime, by: str | None = None,
                         note: str = "") -> bool:
    """open → acknowledged → done (done also straight from open); False when it already was."""
    allowed_from = {"acknowledged": ("open",), "done": ("open", "acknowledged")}[wanted]
    values: dict[str, Any] = {"state": wanted}
    if wanted == "done":
        values.update(done_at=at, done_by=by, note=note)
    result = await conn.execute(update(event_tasks).where(and_(event_tasks.c.id == task_id,
                                                               event_tasks.c.state.in_(allowed_from))).values(**values))
    return bool(result.rowcount)
