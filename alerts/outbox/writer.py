"""The outbox writer's transactions on a thread of their own, with their own event loop and engine.

On the main event loop, each step of a transaction (begin, record, claim, commit) waits for the loop
to come round again, and with dozens of provider requests in flight a turn of the loop takes a
millisecond or more: a transaction took 10-20 ms of wall time for 1-2 ms of work, and the senders
stood idle meanwhile. Here the main loop awaits one future per transaction. On SQLite the thread
runs the transaction through the synchronous driver in one go (the same store functions, through a
small facade: no hop to a driver thread per statement); on PostgreSQL through asyncpg on the
thread's own loop, which does nothing else. The thread ends after a while without work.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.engine import Database, _sqlite_begin_immediate, _sqlite_pragmas

log = logging.getLogger("alerts.outbox")
T = TypeVar("T")
SWITCH_INTERVAL = 0.001
Work = Callable[[Database, AsyncConnection], Awaitable[T]]


class SyncConnection:
    """The part of AsyncConnection the outbox's store functions use (execute, dialect), over a sync
    Connection: awaiting it never suspends, so a whole transaction runs in one step of the loop."""

    def __init__(self, sync: Connection):
        self.sync = sync
        self.dialect = sync.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return self.sync.execute(statement, parameters)


def sqlite_engine(url: str) -> Engine:
    """The synchronous twin of alerts.store.engine.Database for SQLite: same pragmas, BEGIN IMMEDIATE."""
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


class WriterThread:
    def __init__(self, url: str, *, idle_seconds: float = 20.0):
        self.url = url
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._last_call = 0.0

    @staticmethod
    def usable(url: str) -> bool:
        """An in-memory SQLite database exists once per connection: it cannot be shared with a thread."""
        return not (url == "sqlite://" or ":memory:" in url or "mode=memory" in url)

    async def call(self, work: Work[T]) -> T:
        """Run `work(db, conn)` in one write transaction on the writer thread; its result or error here."""
        for _ in range(2):
            loop = self._ensure_started()
            try:
                future = asyncio.run_coroutine_threadsafe(self._run(work), loop)
            except RuntimeError:  # the thread was just ending for idleness: start it again
                continue
            return await asyncio.wrap_future(future)
        raise RuntimeError("the outbox writer thread could not be started")

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is not None and self._thread is not None and self._thread.is_alive():
                return self._loop
            # Each statement of the writer's transaction hands the interpreter lock back and forth with
            # the sending loop; at the default 5 ms per hand-over a transaction of a few milliseconds of
            # work took tens. 1 ms keeps it short, at a negligible cost to the rest of the process.
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
            ready: concurrent.futures.Future[asyncio.AbstractEventLoop] = concurrent.futures.Future()
            self._thread = threading.Thread(target=self._main, args=(ready,), name="outbox-writer", daemon=True)
            self._thread.start()
            self._loop = ready.result(timeout=30)
            return self._loop

    def _main(self, ready: concurrent.futures.Future[asyncio.AbstractEventLoop]) -> None:
        asyncio.run(self._serve(ready))

    async def _serve(self, ready: concurrent.futures.Future[asyncio.AbstractEventLoop]) -> None:
        loop = asyncio.get_running_loop()
        self.sqlite = self.url.startswith("sqlite")
        self.db = Database(self.url)  # PostgreSQL: asyncpg on this thread's loop
        self.sync_engine: Engine | None = sqlite_engine(self.url) if self.sqlite else None
        self.conn: Any = None
        self._held: Any = None
        self._serial = asyncio.Lock()  # one transaction at a time on the one connection
        self._last_call = loop.time()
        ready.set_result(loop)
        try:
            while True:
                await asyncio.sleep(min(1.0, self.idle_seconds))
                with self._lock:
                    if loop.time() - self._last_call > self.idle_seconds and not self._busy(loop):
                        self._loop = None  # new calls start a new thread from now on
                        break
        finally:
            await self._drop()
            try:
                await self.db.close()
                if self.sync_engine is not None:
                    self.sync_engine.dispose()
            except Exception:  # noqa: BLE001 - the database may be gone already (a test dropped it)
                log.debug("outbox writer: closing its engine failed", exc_info=True)

    @staticmethod
    def _busy(loop: asyncio.AbstractEventLoop) -> bool:
        current = asyncio.current_task(loop)
        return any(t is not current and not t.done() for t in asyncio.all_tasks(loop))

    async def _run(self, work: Work[T]) -> T:
        async with self._serial:
            return await self._transaction(work)

    async def _transaction(self, work: Work[T]) -> T:
        self._last_call = asyncio.get_running_loop().time()
        try:
            if self.sync_engine is not None:
                if self.conn is None:
                    self.conn = self.sync_engine.connect().execution_options(alerts_write=True)
                with self.conn.begin():
                    return await work(self.db, SyncConnection(self.conn))  # type: ignore[arg-type]
            if self.conn is None:
                self._held = self.db.held()
                self.conn = await self._held.__aenter__()
            async with self.db.write_on(self.conn) as conn:
                return await work(self.db, conn)
        except Exception:
            await self._drop()  # a broken connection is replaced on the next call
            raise

    async def _drop(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        try:
            if isinstance(conn, Connection):
                conn.close()
            else:
                await self._held.__aexit__(None, None, None)
        except Exception:  # noqa: BLE001 - dropped either way
            log.debug("outbox writer: closing its connection failed", exc_info=True)
