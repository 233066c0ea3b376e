"""The outbox worker: claim due deliveries in small slices, send them, record outcomes in the background.

Provider calls run on a fixed pool of `sms.concurrency` sender tasks. One writer task owns the
database: each of its transactions records the outcomes that came in since the last one and claims
exactly as many deliveries as there are senders free, marking them in flight. So what is in flight
in the database is at most what is really in flight (a crash leaves at most `concurrency` deliveries
in doubt, each batch call counting its items), while the senders never wait on a write of their own:
outcomes are written many at a time, and a claim happens while the other senders are busy.

Rates are the shared budgets of alerts/store/budgets.py (every process together keeps a sender's
rate); account-level faults pause a channel or a sender, with an operator problem, until a send works.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime

from alerts.channels.base import Channel
from alerts.clock import Clock
from alerts.outbox import slices
from alerts.outbox.dispatch import Round
from alerts.outbox.policy import backoff_seconds
from alerts.outbox.writer import WriterThread
from alerts.settings.channels import ChannelsConfig
from alerts.store import deliveries as store
from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.workflow import audit

__all__ = ["BatchResult", "Worker", "backoff_seconds", "process_alive"]

log = logging.getLogger("alerts.outbox")


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    withdrawn: int = 0
    paused: int = 0  # left queued, without spending an attempt, while a channel or sender was paused
    found: int = 0  # in doubt, and the provider had it: a duplicate avoided

    def add(self, other: BatchResult) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(self, db: Database, channels: Mapping[str, Channel], config: ChannelsConfig, clock: Clock,
                 *, owner: str | None = None, round_seconds: float = 2.0):
        self.db = db
        self.channels = channels
        self.config = config
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.round_seconds = round_seconds
        self._last_close = 0.0
        # Pauses this process knows of, key -> until (refreshed from the database at every claim).
        self.pauses: dict[str, datetime] = {}
        self.pauses_changed = True
        self._fanout_task: asyncio.Task[None] | None = None
        # The writer's transactions run on a thread of their own (alerts/outbox/writer.py).
        self.writer = WriterThread(db.url) if WriterThread.usable(db.url) else None

    async def run_once(self, max_batches: int | None = None) -> BatchResult:
        """Send what is due; return when nothing is due, after `max_batches` claims, or after a short
        round (so that a stop request is heard soon). Nothing is left in flight when it returns. A large
        fan-out still being written (alerts/outbox/slices.py) goes on alongside."""
        # A fan-out still being written goes on once this round's first claim is made: the first
        # requests of a warning do not wait behind the writing of the rest of its deliveries.
        writing = (self._fanout_task is None or self._fanout_task.done()) and await slices.pending(self.db)
        total = await Round(self, max_claims=max_batches, deadline=time.monotonic() + self.round_seconds,
                            after_first_claim=self._continue_fanouts if writing else None).run()
        if writing:
            self._continue_fanouts()  # (when nothing was claimed)
        if total.claimed == 0 or time.monotonic() - self._last_close > 2.0:
            await self.close_finished_drafts()
        return total

    async def drain(self, max_batches: int = 100_000) -> BatchResult:
        """Burst mode: send until nothing is due (tests and `alerts outbox drain`), including what a
        fan-out still being written adds meanwhile."""
        total = BatchResult()
        while True:
            self._continue_fanouts()
            writing = await slices.pending(self.db)
            result = await Round(self, max_claims=max_batches, deadline=None).run()
            total.add(result)
            if not writing:  # this round began after every delivery was written: it sent all that was due
                break
            if result.claimed == 0 and self._fanout_task is not None:
                await asyncio.wait({self._fanout_task}, timeout=0.1)
        if self._fanout_task is not None:
            await self._fanout_task  # it found nothing more to write: let it end with the burst
        await self.close_finished_drafts()
        return total

    def _continue_fanouts(self) -> None:
        if self._fanout_task is None or self._fanout_task.done():
            self._fanout_task = asyncio.create_task(self._fanouts(), name="outbox-fanout")

    async def _fanouts(self) -> None:
        try:
            while await slices.continue_one(self.db, self.clock.now()):
                await asyncio.sleep(0)  # the sending's own transactions get their turn in between
        except Exception:  # noqa: BLE001 - the job stays; the next round continues it
            log.exception("outbox: continuing a fan-out failed; it is tried again shortly")

    async def stop_senders(self) -> None:
        """Stop writing fan-out slices (senders live only as long as a round); a job left is continued
        by the next worker."""
        if self._fanout_task is not None and not self._fanout_task.done():
            self._fanout_task.cancel()
            await asyncio.gather(self._fanout_task, return_exceptions=True)

    async def close_finished_drafts(self) -> None:
        self._last_close = time.monotonic()
        async with self.db.write() as conn:
            for draft_id, any_failed in await store.drafts_finished(conn):
                final = "partly_failed" if any_failed else "sent"
                if await draft_store.transition(conn, draft_id, "dispatching", final, at=self.clock.now()):
                    await audit.append(conn, at=self.clock.now(), actor="system", action=f"draft.{final}",
                                       target=f"draft:{draft_id}", origin="outbox")

    def _dead_owners(self, owners: list[str]) -> list[str]:
        """Lease owners on this host whose process is gone: their leases need not run out first."""
        host = socket.gethostname()
        dead = []
        for owner in owners:
            h, _, rest = owner.partition(":")
            pid = rest.split(":", 1)[0]
            if h == host and pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
                dead.append(owner)
        return dead

    async def reclaim(self) -> int:
        """Deliveries a dead worker left in flight become "in doubt": settled by a status callback that
        came, otherwise queued to be looked up at the provider before anything is sent again."""
        async with self.db.write() as conn:
            dead = self._dead_owners(await store.lease_owners(conn))
            result = await store.reclaim(conn, now=self.clock.now(), dead_owners=dead)
            if result.total:
                await audit.append(conn, at=self.clock.now(), actor="system", action="outbox.in_doubt",
                                   target="outbox", origin=self.owner,
                                   after={"to_reconcile": result.queued, "settled_by_callback": result.settled})
        if result.total:
            log.warning("outbox: %d deliveries were in flight when a worker stopped: %d settled by their status "
                        "callback, %d to be looked up at the provider before any resend", result.total,
                        result.settled, result.queued)
        return result.total
