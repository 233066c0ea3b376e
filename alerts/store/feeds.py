"""Queries for feed health and the entries each feed has delivered (each processed once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import feed_entries, feeds


async def claim_entry(conn: AsyncConnection, feed: str, key: str, *, at: datetime) -> bool:
    """Record an entry as seen; True only for the first process to see it."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = await conn.execute(
        insert(feed_entries).values(feed=feed, entry_key=key[:500], seen_at=at).on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def ensure(conn: AsyncConnection, name: str) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(insert(feeds).values(name=name, consecutive_failures=0, entries_seen=0, last_error="")
                       .on_conflict_do_nothing())


async def record_success(conn: AsyncConnection, name: str, *, at: datetime, new_entries: int,
                         etag: str | None = None, last_modified: str | None = None) -> None:
    await ensure(conn, name)
    values: dict[str, Any] = dict(last_attempt_at=at, last_success_at=at, consecutive_failures=0,
                                  entries_seen=feeds.c.entries_seen + new_entries)
    if new_entries:
        values["last_new_entry_at"] = at
    if etag is not None:
        values["etag"] = etag
    if last_modified is not None:
        values["last_modified"] = last_modified
    await conn.execute(update(feeds).where(feeds.c.name == name).values(**values))


async def record_failure(conn: AsyncConnection, name: str, *, at: datetime, reason: str) -> None:
    await ensure(conn, name)
    await conn.execute(update(feeds).where(feeds.c.name == name).values(
        last_attempt_at=at, last_error_at=at, last_error=reason[:1000],
        consecutive_failures=feeds.c.consecutive_failures + 1))


async def all_feeds(conn: AsyncConnection) -> list[Any]:
    return list(await conn.execute(select(feeds).order_by(feeds.c.name)))
