"""Operator problems: what someone on duty must see and act on (what, why, what to do), in one table.

Any stage reports a problem under a stable key; reporting it again while it is open counts it, and
after it was resolved reopens it. The stage that can tell the condition has cleared resolves it
(a channel that sends again), otherwise a person does in the console or the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import problems

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Problem:
    id: int
    key: str
    kind: str
    severity: str
    subject: str
    what: str
    why: str
    todo: str
    count: int
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for k in ("opened_at", "updated_at", "resolved_at"):
            out[k] = out[k].isoformat() if out[k] is not None else None
        return out


async def report(conn: AsyncConnection, *, key: str, kind: str, what: str, why: str = "", todo: str = "",
                 subject: str = "", severity: str = "warning", at: datetime) -> None:
    """Open (or count again, or reopen) the problem under `key`. Safe for replicas reporting at once."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} is not one of {SEVERITIES}")
    values = dict(key=key[:200], kind=kind, severity=severity, subject=subject[:200], what=what, why=why, todo=todo,
                  count=1, opened_at=at, updated_at=at, resolved_at=None, resolved_by=None)
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(problems).values(**values)
    reopened = problems.c.resolved_at.is_not(None)
    await conn.execute(insert.on_conflict_do_update(
        index_elements=[problems.c.key],
        set_=dict(kind=kind, severity=severity, subject=values["subject"], what=what, why=why, todo=todo,
                  updated_at=at, resolved_at=None, resolved_by=None,
                  # A reopened problem starts its count and its "since" afresh.
                  count=case((reopened, literal(1)), else_=problems.c.count + 1),
                  opened_at=case((reopened, literal(at, problems.c.opened_at.type)), else_=problems.c.opened_at)),
    ))


async def resolve(conn: AsyncConnection, key: str, *, at: datetime, by: str = "system") -> bool:
    """Close the open problem under `key`; False when none is open."""
    result = await conn.execute(update(problems).where(and_(problems.c.key == key, problems.c.resolved_at.is_(None)))
                                .values(resolved_at=at, resolved_by=by, updated_at=at))
    return bool(result.rowcount)


async def resolve_id(conn: AsyncConnection, problem_id: int, *, at: datetime, by: str) -> bool:
    result = await conn.execute(update(problems).where(and_(problems.c.id == problem_id,
                                                            problems.c.resolved_at.is_(None)))
                                .values(resolved_at=at, resolved_by=by, updated_at=at))
    return bool(result.rowcount)


def _problem(row: Any) -> Problem:
    return Problem(row.id, row.key, row.kind, row.severity, row.subject, row.what, row.why, row.todo, row.count,
                   row.opened_at, row.updated_at, row.resolved_at, row.resolved_by)


async def open_problems(conn: AsyncConnection, *, limit: int = 100) -> list[Problem]:
    """Open problems, the most severe first, then the most recent."""
    rank = case((problems.c.severity == "critical", 0), (problems.c.severity == "warning", 1), else_=2)
    rows = await conn.execute(select(problems).where(problems.c.resolved_at.is_(None))
                              .order_by(rank, problems.c.updated_at.desc(), problems.c.id.desc()).limit(limit))
    return [_problem(r) for r in rows]


async def get(conn: AsyncConnection, key: str) -> Problem | None:
    row = (await conn.execute(select(problems).where(problems.c.key == key))).first()
    return _problem(row) if row is not None else None


async def get_id(conn: AsyncConnection, problem_id: int) -> Problem | None:
    row = (await conn.execute(select(problems).where(problems.c.id == problem_id))).first()
    return _problem(row) if row is not None else None


async def recent(conn: AsyncConnection, *, limit: int = 100) -> list[Problem]:
    rows = await conn.execute(select(problems).order_by(problems.c.updated_at.desc(), problems.c.id.desc()).limit(limit))
    return [_problem(r) for r in rows]
