"""The audit log: append-only and hash-chained, so a changed or removed entry is detected."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import audit_log

GENESIS = "0" * 64


def _digest(prev_hash: str, at: datetime, actor: str, action: str, target: str, origin: str,
            before: Any, after: Any) -> str:
    body = json.dumps(
        [prev_hash, at.isoformat(timespec="microseconds"), actor, action, target, origin, before, after],
        ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


async def append(
    conn: AsyncConnection, *, at: datetime, actor: str, action: str, target: str = "", origin: str = "",
    before: Any = None, after: Any = None,
) -> str:
    """Append one entry inside the caller's write transaction; return its hash."""
    if conn.dialect.name == "postgresql":
        # Serialise appenders across replicas so the chain never forks.
        await conn.execute(text("SELECT pg_advisory_xact_lock(727401)"))
    last = (await conn.execute(select(audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1))).first()
    prev = last.hash if last else GENESIS
    # Round-trip through JSON so the hash covers exactly what is stored.
    before = json.loads(json.dumps(before, default=str)) if before is not None else None
    after = json.loads(json.dumps(after, default=str)) if after is not None else None
    at = at.astimezone(UTC)
    digest = _digest(prev, at, actor, action, target, origin, before, after)
    await conn.execute(
        audit_log.insert().values(
            at=at, actor=actor, action=action, target=target, origin=origin,
            before=before, after=after, prev_hash=prev, hash=digest,
        )
    )
    return digest


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    problems: list[str]
    head: str


async def verify(conn: AsyncConnection) -> VerifyResult:
    problems: list[str] = []
    prev = GENESIS
    count = 0
    result = await conn.execute(select(audit_log).order_by(audit_log.c.id))
    for row in result:
        count += 1
        if row.prev_hash != prev:
            problems.append(f"entry {row.id}: previous hash does not match — an entry before it was removed or changed")
        expected = _digest(row.prev_hash, row.at, row.actor, row.action, row.target, row.origin, row.before, row.after)
        if expected != row.hash:
            problems.append(f"entry {row.id} ({row.action} by {row.actor}): content does not match its hash — it was changed")
        prev = row.hash
    return VerifyResult(ok=not problems, entries=count, problems=problems, head=prev)


async def recent(conn: AsyncConnection, limit: int = 100, target: str | None = None) -> list[Any]:
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if target is not None:
        q = q.where(audit_log.c.target == target)
    return list(await conn.execute(q))


async def contains(conn: AsyncConnection, digest: str) -> bool:
    return (await conn.execute(select(audit_log.c.id).where(audit_log.c.hash == digest).limit(1))).first() is not None
