"""The database handle: URL mapping to async drivers, SQLite pragmas, and a single-writer lock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """Map the user-facing URL (sqlite:///PATH, postgresql://...) to the async driver's URL."""
    if url.startswith("sqlite:///") or url == "sqlite://":
        return "sqlite+aiosqlite" + url[len("sqlite") :]
    if url.startswith("sqlite+aiosqlite"):
        return url
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"unsupported database URL {redact(url)!r}: expected sqlite:///PATH or postgresql://...")


def redact(url: str) -> str:
    """The URL with any password hidden, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as a placeholder
        return "<database url>"


class Database:
    """One engine per process. On SQLite, writes go through one lock: SQLite has one writer."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 10):
        self.url = url
        self.dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            path = make_url(async_url(url)).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(async_url(url), **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin_immediate)
        self._write_lock = asyncio.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed on success, rolled back on error."""
        if self.is_sqlite:
            async with self._write_lock, self.engine.connect() as conn:
                await conn.execution_options(alerts_write=True)
                async with conn.begin():
                    yield conn
        else:
            async with self.engine.begin() as conn:
                yield conn

    @asynccontextmanager
    async def held(self) -> AsyncIterator[AsyncConnection]:
        """One connection kept for many write transactions (`write_on`): a loop that commits hundreds
        of times a second (the outbox writer) saves a pool checkout and reset per transaction."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(alerts_write=True)
            yield conn

    @asynccontextmanager
    async def write_on(self, conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
        """A write transaction on a connection from `held`, under the same single-writer lock as `write`."""
        if self.is_sqlite:
            async with self._write_lock, conn.begin():
                yield conn
        else:
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling is turned off so that "begin" below decides.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    # The wait first: switching a new database to WAL needs a lock that another replica, migrating the
    # same new file, may hold; without the timeout set, that switch fails at once as "database is locked".
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # A write transaction takes the write lock up front (BEGIN IMMEDIATE), so two processes
    # never deadlock upgrading a read transaction; they wait on busy_timeout instead. Reads
    # begin deferred and never block writers under WAL.
    if conn.get_execution_options().get("alerts_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")
