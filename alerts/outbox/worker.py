"""The outbox worker: claim due deliveries with a lease, send through their channel, record outcomes.

A worker keeps several batches in progress at once ("lanes"): while one batch is with the provider,
the next is claimed and the last is recorded, so the provider connection never idles on the database.
Provider calls are bounded by one semaphore; sender rates are the channels' token buckets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta

from alerts.channels.base import Channel, Ok, Outbound, Permanent, Retry, send_timed
from alerts.clock import Clock
from alerts.settings.channels import ChannelsConfig
from alerts.store import deliveries as store
from alerts.store import drafts as draft_store
from alerts.store.deliveries import Claimed, Finished
from alerts.store.engine import Database
from alerts.workflow import audit

log = logging.getLogger("alerts.outbox")

# Twilio's "unsubscribed recipient": the person said STOP to the provider; we record the opt-out too.
UNSUBSCRIBED_CODES = {"21610"}


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries so a recovering provider is not stampeded."""
    return random.uniform(0, min(cap, base * (2 ** max(0, attempt - 1))))


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    withdrawn: int = 0

    def add(self, other: BatchResult) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


_COUNTER = {"sent": "sent", "queued": "retried", "failed": "failed", "expired": "expired", "withdrawn": "withdrawn"}


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
        # Provider calls in flight at once, over all lanes: a fixed pool of senders fed by a queue
        # (cheaper than a task and a semaphore wait per delivery at thousands per second).
        self._queue: asyncio.Queue[tuple[Claimed, asyncio.Future[Finished]]] | None = None
        self._senders: list[asyncio.Task[None]] = []
        self._senders_loop: asyncio.AbstractEventLoop | None = None
        self.round_seconds = round_seconds
        self._last_close = 0.0

    async def run_once(self, max_batches: int | None = None) -> BatchResult:
        """Send what is due with several batches in progress; return when nothing is due, after
        `max_batches`, or after a short round (so that a stop request is heard soon)."""
        total = await self._lanes(max_batches, deadline=time.monotonic() + self.round_seconds)
        if total.claimed == 0 or time.monotonic() - self._last_close > 2.0:
            await self.close_finished_drafts()
        return total

    async def _lanes(self, max_batches: int | None, deadline: float | None) -> BatchResult:
        """Lanes claim, send and record independently; they meet only at the end."""
        total = BatchResult()
        budget = [max_batches if max_batches is not None else 1_000_000_000]

        async def lane() -> None:
            while budget[0] > 0 and (deadline is None or time.monotonic() < deadline):
                budget[0] -= 1
                result = await self._cycle()
                total.add(result)
                if result.claimed == 0:
                    return

        await asyncio.gather(*(lane() for _ in range(self.config.outbox.lanes)))
        return total

    async def _cycle(self) -> BatchResult:
        async with self.db.write() as conn:
            claimed = await store.claim(conn, owner=self.owner, now=self.clock.now(),
                                        lease_seconds=self.config.outbox.lease_seconds,
                                        limit=self.config.outbox.batch_size)
        result = BatchResult(claimed=len(claimed))
        if not claimed:
            return result
        outcomes = await self._send_all(claimed)
        unsubscribed = [c for c, o in zip(claimed, outcomes, strict=True)
                        if o.state == "failed" and o.error_code in UNSUBSCRIBED_CODES]
        async with self.db.write() as conn:
            now = self.clock.now()
            await store.finish_many(conn, outcomes, owner=self.owner, now=now)
            for c in unsubscribed:
                await self._record_unsubscribed(conn, c, now)
        for o in outcomes:
            name = _COUNTER[o.state]
            setattr(result, name, getattr(result, name) + 1)
        return result

    async def _record_unsubscribed(self, conn: object, item: Claimed, now: object) -> None:
        from alerts.recipients import opt_out

        await opt_out(conn, phone=item.address, how="provider:21610", at=now, actor="system",  # type: ignore[arg-type]
                      origin="outbox")

    async def _send_all(self, claimed: list[Claimed]) -> list[Finished]:
        if self._queue is None or self._senders_loop is not asyncio.get_running_loop():
            self._start_senders()
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Finished]] = []
        for item in claimed:
            fut: asyncio.Future[Finished] = loop.create_future()
            futures.append(fut)
            self._queue.put_nowait((item, fut))
        return list(await asyncio.gather(*futures))

    def _start_senders(self) -> None:
        self._senders_loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._senders = [asyncio.create_task(self._sender(self._queue), name=f"outbox-sender-{i}")
                         for i in range(self.config.sms.concurrency)]

    async def _sender(self, queue: asyncio.Queue[tuple[Claimed, asyncio.Future[Finished]]]) -> None:
        while True:
            item, fut = await queue.get()
            try:
                result = await self._send_one(item)
            except BaseException as exc:  # the lane waiting on it sees the error; the sender lives on
                if not fut.done():
                    fut.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            if not fut.done():
                fut.set_result(result)

    async def stop_senders(self) -> None:
        for task in self._senders:
            task.cancel()
        await asyncio.gather(*self._senders, return_exceptions=True)
        self._senders = []
        self._queue = None

    async def _send_one(self, item: Claimed) -> Finished:
        now = self.clock.now()
        if item.draft_state == "withdrawn":
            return Finished(item.id, "withdrawn", error="the draft was withdrawn before sending")
        if item.expires_at is not None and item.expires_at <= now:
            return Finished(item.id, "expired", error="its alert expired before it could be sent")
        channel = self.channels.get(item.channel)
        if channel is None:
            return Finished(item.id, "failed", error=f"no channel '{item.channel}' is configured",
                            error_code="no_channel")
        out = Outbound(delivery_id=item.id, message_id=item.message_id, draft_id=item.draft_id, channel=item.channel,
                       address=item.address, text=item.text, exercise=item.exercise)
        timed = await send_timed(channel, out)
        o = timed.outcome
        if isinstance(o, Ok):
            return Finished(item.id, "sent", provider_id=o.provider_id, provider_status=o.provider_status,
                            outcome="ok", latency_ms=timed.latency_ms)
        if isinstance(o, Permanent):
            return Finished(item.id, "failed", error_code=o.code or None, error=o.reason, outcome="permanent",
                            latency_ms=timed.latency_ms)
        assert isinstance(o, Retry)
        retry = self.config.retry
        if item.attempts >= retry.max_attempts:
            return Finished(item.id, "failed", error_code=o.code or None,
                            error=f"gave up after {item.attempts} attempts: {o.reason}", outcome="retry",
                            latency_ms=timed.latency_ms)
        delay = o.after if o.after is not None else backoff_seconds(item.attempts, retry.base_delay_seconds,
                                                                    retry.max_delay_seconds)
        return Finished(item.id, "queued", error_code=o.code or None, error=o.reason,
                        next_attempt_at=now + timedelta(seconds=delay), outcome="retry", latency_ms=timed.latency_ms)

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
        """Apply the in-doubt policy to deliveries whose worker died or whose lease ran out."""
        async with self.db.write() as conn:
            dead = self._dead_owners(await store.lease_owners(conn))
            outbox = self.config.outbox
            result = await store.reclaim(conn, now=self.clock.now(), policy=outbox.in_doubt,
                                         campaign_policy=outbox.in_doubt_campaigns, dead_owners=dead)
            if result.total:
                await audit.append(conn, at=self.clock.now(), actor="system", action="outbox.in_doubt",
                                   target="outbox", origin=self.owner,
                                   after={"resent": result.resent, "failed": result.failed,
                                          "policy": outbox.in_doubt, "campaign_policy": outbox.in_doubt_campaigns})
        if result.total:
            log.warning("outbox: %d deliveries were in flight when a worker stopped: %d queued again, %d failed "
                        "(policy %s, campaigns %s)", result.total, result.resent, result.failed,
                        self.config.outbox.in_doubt, self.config.outbox.in_doubt_campaigns)
        return result.total

    async def drain(self, max_batches: int = 100_000) -> BatchResult:
        """Burst mode: send until nothing is due (tests and `alerts outbox drain`)."""
        try:
            total = await self._lanes(max_batches, deadline=None)
        finally:
            await self.stop_senders()
        await self.close_finished_drafts()
        return total
