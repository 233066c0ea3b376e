"""The schema comes from migrations, matches the tables, and works on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from alerts.store.engine import Database, async_url
from alerts.store.migrate import current_revision, head_revision, is_current, upgrade
from alerts.store.tables import feeds, metadata


async def test_upgrade_reaches_head_and_is_idempotent(database: Database) -> None:
    assert await current_revision(database) == head_revision()
    assert await upgrade(database) == head_revision()
    assert await is_current(database)


async def test_migrations_match_the_table_definitions(database: Database) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(sync_conn), metadata)

    async with database.read() as conn:
        assert await conn.run_sync(diff) == []


async def test_timestamps_come_back_aware_in_utc(database: Database) -> None:
    shanghai = timezone(timedelta(hours=8))
    at = datetime(2026, 7, 12, 5, 30, 0, 123456, tzinfo=shanghai)
    async with database.write() as conn:
        await conn.execute(feeds.insert().values(name="f", last_success_at=at, consecutive_failures=0,
                                                 entries_seen=0, last_error=""))
    async with database.read() as conn:
        got = (await conn.execute(select(feeds.c.last_success_at))).scalar_one()
    assert got == at and got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == datetime(2026, 7, 11, 21, 30, 0, 123456, tzinfo=UTC)


def test_user_urls_map_to_async_drivers() -> None:
    assert async_url("sqlite:///var/alerts.db") == "sqlite+aiosqlite:///var/alerts.db"
    assert async_url("postgresql://postgres@127.0.0.1:5432/test") == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def test_replicas_migrating_an_empty_database_at_once_all_succeed(database_url: str) -> None:
    import asyncio

    databases = [Database(database_url) for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(upgrade(db) for db in databases))
        assert revisions == [head_revision()] * 3
    finally:
        for db in databases:
            await db.close()
