"""One round of the worker: sender tasks on the provider side, one writer task on the database side.

The writer's transactions each (1) record every outcome that came in since the last one, with the
pauses, problems and opt-outs they imply, and (2) claim as many deliveries as senders are free (paced
by the shared budgets), marking them in flight. Senders never wait for a write of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from alerts.clock import local
from alerts.outbox.pacing import Pacer, sender_key
from alerts.outbox.policy import backoff_seconds
from alerts.outbox.sending import Done, Sender, Unit, outbound
from alerts.store import budgets, problems
from alerts.store import deliveries as store
from alerts.store.deliveries import Claimed, Finished

if TYPE_CHECKING:
    from alerts.outbox.worker import BatchResult, Worker

log = logging.getLogger("alerts.outbox")

# Twilio's "unsubscribed recipient": the person said STOP to the provider; we record the opt-out too.
UNSUBSCRIBED_CODES = {"21610"}
# How long the writer lets outcomes gather before a transaction, when few senders are free: fewer,
# larger transactions cost the event loop less than one per outcome.
GATHER_SECONDS = 0.012
# Pauses set by other processes are read again at most this often (this process's own at once).
PAUSES_REFRESH_SECONDS = 0.5


class Round:
    def __init__(self, worker: Worker, *, max_claims: int | None, deadline: float | None,
                 after_first_claim: Callable[[], None] | None = None):
        from alerts.outbox.worker import BatchResult

        self.w = worker
        self.config = worker.config
        self.concurrency = worker.config.sms.concurrency
        self.max_claims = max_claims if max_claims is not None else 1 << 62
        self.after_first_claim = after_first_claim
        self.deadline = deadline
        self.result: BatchResult = BatchResult()
        self.units: asyncio.Queue[Unit | None] = asyncio.Queue()
        self.busy = 0  # units queued or being sent
        self.held = 0  # deliveries claimed (in flight in the database) and not yet recorded
        self.done: list[Done] = []
        self.wake = asyncio.Event()
        self.wake_at = 1  # outcomes waiting before a sender wakes the writer
        self.exhausted = False
        self.claims = 0
        self.not_before = 0.0  # no claim before this (monotonic): the budget has no token yet
        self.open_pause_keys: set[str] = set()
        self.pauses_read_at = -1e9
        self.pauses: dict[str, Any] = {}
        self.meta: dict[int, Any] = {}  # message texts, kept between claims
        self.conn: Any = None
        self.conn_context: Any = None
        if getattr(worker, "_pacer", None) is None:
            worker._pacer = Pacer(worker.channels, worker.config)  # type: ignore[attr-defined]
        self.pacer: Pacer = worker._pacer  # type: ignore[attr-defined]
        self.sender = Sender(worker.channels, worker.config, worker.clock, self._paused_until)
        self.batch_channels = {name: ch for name, ch in worker.channels.items()
                               if hasattr(ch, "send_batch") and hasattr(ch, "max_batch")}

    # --- the senders ---------------------------------------------------------------------------

    async def run(self) -> BatchResult:
        tasks = [asyncio.create_task(self._sender_task(), name=f"outbox-sender-{i}") for i in range(self.concurrency)]
        try:
            await self._writer()
        finally:
            for _ in tasks:
                self.units.put_nowait(None)
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.conn is not None:
                await self.conn_context.__aexit__(None, None, None)  # type: ignore[union-attr]
        return self.result

    async def _connection(self) -> Any:
        """The writer's own connection, opened once per round (and again after an error)."""
        if self.conn is None:
            self.conn_context = self.w.db.held()
            self.conn = await self.conn_context.__aenter__()
        return self.conn

    async def _drop_connection(self) -> None:
        if self.conn is not None:
            conn_context, self.conn = self.conn_context, None
            try:
                await conn_context.__aexit__(None, None, None)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - a broken connection is dropped either way
                log.debug("outbox: closing a broken writer connection failed", exc_info=True)

    async def _sender_task(self) -> None:
        while True:
            unit = await self.units.get()
            if unit is None:
                return
            try:
                done = await self.sender.process(unit)
            except Exception:  # noqa: BLE001 - a bug in one step must not lose the deliveries
                log.exception("outbox: sending a unit of %d on %s failed", len(unit.items), unit.channel)
                now = self.w.clock.now()
                done = [Done(i, Finished(i.id, "queued", error="internal error while sending; tried again later",
                                         error_code="error", next_attempt_at=now + timedelta(seconds=backoff_seconds(
                                             i.attempts, self.config.retry.base_delay_seconds, 60.0))))
                        for i in unit.items]
            self.done.extend(done)
            self.busy -= 1
            if len(self.done) >= self.wake_at or self.busy == 0:
                self.wake.set()

    def _paused_until(self, channel: str, sender: str, address: str) -> datetime | None:
        if not self.w.pauses:
            return None
        now = self.w.clock.now()
        for key in (channel, sender_key(channel, sender) if sender else "", sender_key(channel, address)):
            until = self.w.pauses.get(key)
            if until is not None and until > now:
                return until
        return None

    # --- the writer ----------------------------------------------------------------------------

    def _may_claim(self) -> bool:
        return (not self.exhausted and self.claims < self.max_claims
                and (self.deadline is None or time.monotonic() < self.deadline))

    async def _writer(self) -> None:
        batch = max(1, self.concurrency // 2)
        while True:
            free = self.concurrency - self.busy
            may = self._may_claim() and free > 0
            claim = may and time.monotonic() >= self.not_before
            if not self.done and not claim:
                if self.held == 0 and not may:
                    return
                await self._wait(1, max(0.0, self.not_before - time.monotonic()) if may else None)
                continue
            if self.held and free < batch and len(self.done) < batch:
                # Let outcomes gather: fewer, larger transactions cost less than the senders left idle
                # meanwhile (sending is bound by the processor, not by how many requests are in flight),
                # and half the senders stay busy while the transaction runs; senders wake the writer
                # only once half of them have an outcome waiting.
                await self._wait(batch, GATHER_SECONDS)
                free = self.concurrency - self.busy
                claim = claim and free > 0
            await self._cycle(claim, self.concurrency - self.busy)

    async def _wait(self, outcomes: int, timeout: float | None) -> None:
        """Until `outcomes` outcomes are waiting (or nothing is in flight any more), or the timeout."""
        self.wake_at = outcomes
        self.wake.clear()
        try:
            async with asyncio.timeout(timeout):
                await self.wake.wait()
        except TimeoutError:
            pass
        finally:
            self.wake_at = 1

    async def _cycle(self, claim: bool, free: int) -> None:
        done, self.done = self.done, []
        now = self.w.clock.now()
        async def transaction(_db: Any, conn: Any) -> tuple[dict[str, datetime], list[Unit]]:
            paused = await self._record(conn, done, now)
            return paused, (await self._claim(conn, now, free) if claim else [])

        try:
            if self.w.writer is not None:
                paused, units = await self.w.writer.call(transaction)
            else:  # an in-memory database cannot be shared with the writer thread
                async with self.w.db.write_on(await self._connection()) as conn:
                    paused, units = await transaction(self.w.db, conn)
        except Exception:  # noqa: BLE001 - nothing is lost: the outcomes are kept and written again
            log.exception("outbox: recording %d outcomes failed; trying again shortly", len(done))
            self.done = done + self.done
            await self._drop_connection()
            await asyncio.sleep(0.5)
            return
        if paused:
            self.w.pauses.update(paused)
            self.w.pauses_changed = True
        self.held -= len(done)
        self._tally(done)
        if claim:
            self.claims += 1
            if self.after_first_claim is not None:
                self.after_first_claim, hook = None, self.after_first_claim
                hook()
        for unit in units:
            self.held += len(unit.items)
            self.result.claimed += len(unit.items)
            self.busy += 1
            self.units.put_nowait(unit)

    def _tally(self, done: list[Done]) -> None:
        r = self.result
        for d in done:
            f = d.finished
            if f.state in ("sent", "delivered"):
                r.sent += 1
                r.found += f.reconciled == "found" and f.outcome == "found"
            elif f.state == "queued":
                if f.undo_attempt:
                    r.paused += 1
                else:
                    r.retried += 1
            elif f.state in ("failed", "expired", "withdrawn"):
                setattr(r, f.state, getattr(r, f.state) + 1)

    async def _record(self, conn: Any, done: list[Done], now: datetime) -> dict[str, datetime]:
        """Write the outcomes; pause what an account-level fault hit; resume what works again."""
        if not done:
            return {}
        paused: dict[str, datetime] = {}
        for d in done:
            if d.pause is None:
                continue
            key = sender_key(d.item.channel, d.pause.sender) if d.pause.sender else d.item.channel
            if key not in paused:
                pause = await budgets.pause(conn, key, now=now, after=d.pause.after, base=self.config.pause.base_seconds,
                                            cap=self.config.pause.max_seconds, code=d.pause.code,
                                            reason=d.pause.reason)
                paused[key] = pause.until
                self.w.pauses_changed = True  # the claim in this same transaction reads it again
                await problems.report(
                    conn, key=f"channel_paused:{key}", kind="channel_paused", severity=d.pause.severity,
                    subject=f"channel:{d.item.channel}", at=now,
                    what=d.pause.problem or f"{d.item.channel} 通道暂停发送",
                    why=f"{d.pause.reason}（暂停至 {local(pause.until)}，期间的消息保留在队列中，不计发送次数）",
                    todo=d.pause.todo or "通常会自动恢复；若反复出现，请检查服务商账户和 channels.yaml 的发送速率")
                log.warning("outbox: %s paused until %s: %s", key, pause.until.isoformat(), d.pause.reason)
            d.finished.next_attempt_at = paused[key]
        await store.finish_many(conn, [d.finished for d in done], owner=self.w.owner, now=now)
        for d in done:
            if d.finished.state == "failed" and d.finished.error_code in UNSUBSCRIBED_CODES:
                await _record_unsubscribed(conn, d.item, now)
        if self.open_pause_keys:
            works = set()
            for d in done:
                if d.finished.outcome == "ok":
                    works.add(d.item.channel)
                    if d.sender:
                        works.add(sender_key(d.item.channel, d.sender))
            for key in await budgets.resume(conn, sorted(works & self.open_pause_keys - set(paused))):
                await problems.resolve(conn, f"channel_paused:{key}", at=now)
                self.open_pause_keys.discard(key)
                self.w.pauses.pop(key, None)
                self.w.pauses_changed = True
                log.info("outbox: %s sends again; its pause is over", key)
        return paused

    async def _claim(self, conn: Any, now: datetime, free: int) -> list[Unit]:
        if self.w.pauses_changed or time.monotonic() - self.pauses_read_at > PAUSES_REFRESH_SECONDS:
            self.pauses = await budgets.active_pauses(conn, now)
            self.pauses_read_at = time.monotonic()
            self.w.pauses_changed = False
            self.open_pause_keys = {k for k, p in self.pauses.items() if p.code}
            self.w.pauses = {k: p.until for k, p in self.pauses.items() if p.until > now}
        pauses = self.pauses
        paused_channels = [name for name in self.w.channels if name in self.w.pauses]
        owner, lease = self.w.owner, self.config.outbox.lease_seconds
        units: list[Unit] = []
        rows: list[Claimed] = []
        left = free
        for name, channel in self.batch_channels.items():
            if name in paused_channels or left <= 0:
                continue
            size = max(1, int(channel.max_batch))  # type: ignore[attr-defined]
            got = await store.claim(conn, owner=owner, now=now, lease_seconds=lease, limit=left * size, channels=[name],
                                    meta_cache=self.meta)
            rows.extend(got)
            groups: dict[object, list[Claimed]] = {}
            for item in got:
                groups.setdefault(channel.batch_key(outbound(item)), []).append(item)  # type: ignore[attr-defined]
            for group in groups.values():
                units.extend(Unit(name, group[k:k + size]) for k in range(0, len(group), size))
            left -= len(groups)
        if left > 0:
            got = await store.claim(conn, owner=owner, now=now, lease_seconds=lease,
                                    limit=min(left, self.config.outbox.batch_size),
                                    exclude=paused_channels + list(self.batch_channels), meta_cache=self.meta)
            rows.extend(got)
            units.extend(Unit(item.channel, [item]) for item in got)
        if not rows:
            self.exhausted = True
            return []
        paced = [r for r in rows if self.pacer.paced(r.channel)]
        if not paced:
            return units
        plan = await self.pacer.plan(conn, paced, pauses, now=now)
        await store.release(conn, plan.release, owner=owner, now=now)
        self.not_before = time.monotonic() + plan.wait if plan.wait else 0.0
        gone = {i for i, _ in plan.release}
        kept = []
        for unit in units:
            unit.items = [i for i in unit.items if i.id not in gone]
            unit.senders = {i.id: plan.senders[i.id] for i in unit.items if i.id in plan.senders}
            if unit.items:
                kept.append(unit)
        return kept


async def _record_unsubscribed(conn: Any, item: Claimed, now: datetime) -> None:
    from alerts.recipients import opt_out

    if item.address.startswith("contact:"):
        return
    await opt_out(conn, phone=item.address, how="provider:21610", at=now, actor="system", origin="outbox")
