"""The outbox worker: claim due deliveries with a lease, send through their channel, record outcomes."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from alerts.channels.base import Channel, Ok, Outbound, Permanent, Retry, send_timed
from alerts.clock import Clock
from alerts.settings.channels import ChannelsConfig
from alerts.store import deliveries as store
from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.workflow import audit

log = logging.getLogger("alerts.outbox")


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


class Worker:
    def __init__(self, db: Database, channels: Mapping[str, Channel], config: ChannelsConfig, clock: Clock,
                 *, owner: str | None = None):
        self.db = db
        self.channels = channels
        self.config = config
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._sem = asyncio.Semaphore(config.sms.concurrency)

    async def run_once(self) -> BatchResult:
        """Claim one batch, send it, record every outcome; then close drafts that are done."""
        now = self.clock.now()
        async with self.db.write() as conn:
            claimed = await store.claim(conn, owner=self.owner, now=now, lease_seconds=self.config.outbox.lease_seconds,
                                        limit=self.config.outbox.batch_size)
        result = BatchResult(claimed=len(claimed))
        if claimed:
            outcomes = await asyncio.gather(*(self._send_one(c) for c in claimed))
            async with self.db.write() as conn:
                for item, (state, kw, attempt) in zip(claimed, outcomes, strict=True):
                    await store.finish(conn, item.id, owner=self.owner, state=state, now=self.clock.now(), **kw)
                    if attempt is not None:
                        await store.record_attempt(conn, item.id, at=self.clock.now(), **attempt)
                    setattr(result, _COUNTER[state], getattr(result, _COUNTER[state]) + 1)
        await self.close_finished_drafts()
        return result

    async def _send_one(self, item: store.Claimed) -> tuple[str, dict, dict | None]:
        now = self.clock.now()
        if item.draft_state == "withdrawn":
            return "withdrawn", {"error": "the draft was withdrawn before sending"}, None
        if item.expires_at is not None and item.expires_at <= now:
            return "expired", {"error": "its alert expired before it could be sent"}, None
        channel = self.channels.get(item.channel)
        if channel is None:
            return "failed", {"error": f"no channel '{item.channel}' is configured", "error_code": "no_channel"}, None
        out = Outbound(delivery_id=item.id, message_id=item.message_id, draft_id=item.draft_id, channel=item.channel,
                       address=item.address, text=item.text, exercise=item.exercise)
        async with self._sem:
            timed = await send_timed(channel, out)
        o = timed.outcome
        attempt = {"latency_ms": timed.latency_ms}
        if isinstance(o, Ok):
            return "sent", {"provider_id": o.provider_id, "provider_status": o.provider_status}, {**attempt, "outcome": "ok"}
        if isinstance(o, Permanent):
            return ("failed", {"error": o.reason, "error_code": o.code or None},
                    {**attempt, "outcome": "permanent", "error_code": o.code or None, "detail": o.reason})
        assert isinstance(o, Retry)
        retry = self.config.retry
        if item.attempts >= retry.max_attempts:
            return ("failed", {"error": f"gave up after {item.attempts} attempts: {o.reason}", "error_code": o.code or None},
                    {**attempt, "outcome": "permanent", "error_code": o.code or None, "detail": o.reason})
        delay = o.after if o.after is not None else backoff_seconds(item.attempts, retry.base_delay_seconds,
                                                                    retry.max_delay_seconds)
        return ("queued", {"error": o.reason, "error_code": o.code or None,
                           "next_attempt_at": now + timedelta(seconds=delay)},
                {**attempt, "outcome": "retry", "error_code": o.code or None, "detail": o.reason})

    async def close_finished_drafts(self) -> None:
        async with self.db.write() as conn:
            for draft_id, any_failed in await store.drafts_finished(conn):
                final = "partly_failed" if any_failed else "sent"
                if await draft_store.transition(conn, draft_id, "dispatching", final, at=self.clock.now()):
                    await audit.append(conn, at=self.clock.now(), actor="system", action=f"draft.{final}",
                                       target=f"draft:{draft_id}", origin="outbox")

    async def reclaim(self) -> int:
        async with self.db.write() as conn:
            count = await store.reclaim_expired_leases(conn, now=self.clock.now(), policy=self.config.outbox.in_doubt)
        if count:
            log.warning("outbox: %d deliveries were in flight when a worker stopped; policy %s applied",
                        count, self.config.outbox.in_doubt)
        return count

    async def drain(self, max_batches: int = 10_000) -> BatchResult:
        """Burst mode: send until nothing is due (tests and `alerts outbox drain`)."""
        total = BatchResult()
        for _ in range(max_batches):
            r = await self.run_once()
            for k in total.__dict__:
                setattr(total, k, getattr(total, k) + getattr(r, k))
            if r.claimed == 0:
                break
        return total


_COUNTER = {"sent": "sent", "queued": "retried", "failed": "failed", "expired": "expired", "withdrawn": "withdrawn"}
