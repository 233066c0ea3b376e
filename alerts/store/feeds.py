"""Queries for feed health and the entries each feed has delivered (each processed once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import feed_entries, feeds


def _insert(conn: AsyncConnection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


async def claim_entry(conn: AsyncConnection, feed: str, key: str, *, at: datetime) -> bool:
    """Record an entry as seen; True only for the first process to see it."""
    result = await conn.execute(
        _insert(conn)(feed_entries).values(feed=feed, entry_key=key[:500], seen_at=at).on_conflict_do_nothing()
    )
    return bool(result.rowcount)


async def seen_keys(conn: AsyncConnection, feed: str, keys: list[str]) -> set[str]:
    """Which of these entry keys the feed has already delivered (so linked documents are not refetched)."""
    found: set[str] = set()
    short = [k[:500] for k in keys]
    for start in range(0, len(short), 500):
        chunk = short[start:start + 500]
        rows = await conn.execute(select(feed_entries.c.entry_key).where(
            and_(feed_entries.c.feed == feed, feed_entries.c.entry_key.in_(chunk))))
        found.update(r.entry_key for r in rows)
    return {k for k in keys if k[:500] in found}


async def ensure(conn: AsyncConnection, name: str) -> None:
    await conn.execute(_insert(conn)(feeds).values(name=name, consecutive_failures=0, entries_seen=0, last_error="")
                       .on_conflict_do_nothing())


async def get(conn: AsyncConnection, name: str) -> Any | None:
    return (await conn.execute(select(feeds).where(feeds.c.name == name))).first()


async def try_lease(conn: AsyncConnection, name: str, *, owner: str, now: datetime, until: datetime) -> bool:
    """Take the right to poll a feed now: not in backoff, and no other replica holding a live lease."""
    await ensure(conn, name)
    result = await conn.execute(
        update(feeds)
        .where(and_(feeds.c.name == name,
                    or_(feeds.c.next_poll_at.is_(None), feeds.c.next_poll_at <= now),
                    or_(feeds.c.lease_until.is_(None), feeds.c.lease_until <= now, feeds.c.lease_owner == owner)))
        .values(lease_owner=owner, lease_until=until)
    )
    return bool(result.rowcount)


async def release(conn: AsyncConnection, name: str, *, owner: str) -> None:
    await conn.execute(update(feeds).where(and_(feeds.c.name == name, feeds.c.lease_owner == owner))
                       .values(lease_owner=None, lease_until=None))


async def record_success(conn: AsyncConnection, name: str, *, at: datetime, new_entries: int,
                         etag: str | None = None, last_modified: str | None = None) -> None:
    await ensure(conn, name)
    values: dict[str, Any] = dict(last_attempt_at=at, last_success_at=at, consecutive_failures=0,
                                  entries_seen=feeds.c.entries_seen + new_entries, next_poll_at=None)
    if new_entries:
        values["last_new_entry_at"] = at
    if etag is not None:
        values["etag"] = etag
    if last_modified is not None:
        values["last_modified"] = last_modified
    await conn.execute(update(feeds).where(feeds.c.name == name).values(**values))


async def record_failure(conn: AsyncConnection, name: str, *, at: datetime, reason: str,
                         next_poll_at: datetime | None = None) -> int:
    """Count a failed poll; returns the consecutive failures so far (for the backoff)."""
    await ensure(conn, name)
    await conn.execute(update(feeds).where(feeds.c.name == name).values(
        last_attempt_at=at, last_error_at=at, last_error=reason[:1000], next_poll_at=next_poll_at,
        consecutive_failures=feeds.c.consecutive_failures + 1))
    row = await get(conn, name)
    return int(row.consecutive_failures) if row is not None else 1


async def set_next_poll(conn: AsyncConnection, name: str, when: datetime | None) -> None:
    await conn.execute(update(feeds).where(feeds.c.name == name).values(next_poll_at=when))


async def note_error(conn: AsyncConnection, name: str, *, at: datetime, reason: str) -> None:
    """An error inside a feed that was fetched (one entry failed): shown, but not a feed failure."""
    await ensure(conn, name)
    await conn.execute(update(feeds).where(feeds.c.name == name).values(
        last_error_at=at, last_error=reason[:1000]))


async def all_feeds(conn: AsyncConnection) -> list[Any]:
    return list(await conn.execute(select(feeds).order_by(feeds.c.name)))
