"""Background work in one place: feed polls, the outbox loop, lease reclaim, expiry sweeps."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from alerts import lifecycle
from alerts.app import Service
from alerts.feeds.health import StaleWatch
from alerts.feeds.poller import FeedPoller
from alerts.feeds.sources import demo_documents, directory_documents
from alerts.store import drafts as draft_store
from alerts.store import feeds as feed_store
from alerts.workflow import audit

log = logging.getLogger("alerts.scheduler")


class Background:
    def __init__(self, service: Service):
        self.service = service
        self.scheduler = AsyncIOScheduler(timezone=service.settings.service.timezone)
        self.outbox_wakeup = asyncio.Event()
        self._outbox_task: asyncio.Task[Any] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.scheduler.running and self._outbox_task is not None and not self._outbox_task.done()

    def start(self) -> None:
        settings = self.service.settings
        for feed in settings.feeds.feeds:
            if not feed.enabled:
                continue
            if feed.kind in ("directory", "demo"):
                self.scheduler.add_job(self.poll_local, "interval", seconds=feed.interval_seconds, args=[feed.name],
                                       id=f"feed:{feed.name}", max_instances=1, coalesce=True,
                                       next_run_time=self.service.clock.now())
            else:
                poller = FeedPoller(self.service, feed, on_drafts=self.outbox_wakeup.set)
                self.scheduler.add_job(poller.poll, "interval", seconds=feed.interval_seconds, id=f"feed:{feed.name}",
                                       max_instances=1, coalesce=True, next_run_time=self.service.clock.now())
        self.stale_watch = StaleWatch(self.service)
        self.scheduler.add_job(self.stale_watch.check, "interval", seconds=60, id="feed-staleness", max_instances=1,
                               coalesce=True)
        self.scheduler.add_job(self.sweep_expiry, "interval", seconds=60, id="expiry", max_instances=1, coalesce=True,
                               next_run_time=self.service.clock.now())
        # Reminders, escalation to backups and the optional red auto-release (workflow.yaml escalation).
        from alerts.escalation import Escalator

        self.scheduler.add_job(Escalator(self.service, wake=self.outbox_wakeup.set).run_once, "interval", seconds=30,
                               id="escalation", max_instances=1, coalesce=True, next_run_time=self.service.clock.now())
        # Events: department task notices and 叫应, escalated while nobody acknowledges (events.yaml).
        self.scheduler.add_job(self.service.events.run_once, "interval",
                               seconds=self.service.events.config.check_every_seconds, id="event-acks",
                               max_instances=1, coalesce=True, next_run_time=self.service.clock.now())
        # A lease cannot expire sooner than lease_seconds, so checking more often than that is wasted work.
        reclaim_every = min(30.0, settings.channels.outbox.lease_seconds)
        self.scheduler.add_job(self.service.worker.reclaim, "interval", seconds=reclaim_every, id="reclaim",
                               max_instances=1, coalesce=True, next_run_time=self.service.clock.now())
        # Campaigns: one job per calendar rule plus a sweep (catch-up, deferred retries, reload).
        from alerts.campaigns.scheduling import install as install_campaigns

        self.campaigns = install_campaigns(self.service, self.scheduler)
        # Retention: old raw inputs, deliveries and provider attempts pruned (retention.yaml); never the audit log.
        from alerts.retention import schedule as schedule_retention

        schedule_retention(self.service, self.scheduler)
        # Domestic SMS providers: receipts and replies the pushes missed are pulled (alerts/channels/sms/pull.py).
        from alerts.channels.sms.pull import pull_once

        self.scheduler.add_job(pull_once, "interval", seconds=60, args=[self.service], id="sms-receipts",
                               max_instances=1, coalesce=True)
        # Loudspeaker packages of approved warnings: audio and controller posts, off the request path.
        from alerts.broadcast.packages import make_pending

        broadcast = settings.channels.voice.broadcast
        self.scheduler.add_job(make_pending, "interval", seconds=10, id="broadcast-packages", max_instances=1,
                               coalesce=True, args=[self.service.db, broadcast, settings.var_dir,
                                                    self.service.clock.now])
        self.scheduler.start()
        self._outbox_task = asyncio.create_task(self.outbox_loop(), name="outbox")

    async def stop(self, grace_seconds: float) -> None:
        """Stop taking work; let running jobs and in-flight sends finish within the grace period."""
        self._stopping = True
        self.outbox_wakeup.set()
        running: set[asyncio.Future[Any]] = set()
        if self.scheduler.running:
            self.scheduler.pause()  # no new job runs from here on
            # APScheduler 3 cannot wait for coroutine jobs itself (its shutdown cancels them in the
            # middle of a write), so wait for the executor's running jobs here.
            executor = self.scheduler._lookup_executor("default")  # noqa: SLF001
            running = {f for f in getattr(executor, "_pending_futures", set()) if not f.done()}
        waiting: set[asyncio.Future[Any]] = set(running)
        if self._outbox_task is not None:
            waiting.add(self._outbox_task)
        if waiting:
            _done, late = await asyncio.wait(waiting, timeout=grace_seconds)
            if late:
                log.warning("%d background task(s) did not finish within %.0f s; leases will be reclaimed on restart",
                            len(late), grace_seconds)
                for task in late:
                    task.cancel()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def outbox_loop(self) -> None:
        interval = self.service.settings.channels.outbox.poll_interval_seconds
        while not self._stopping:
            try:
                result = await self.service.worker.run_once()
            except Exception:  # noqa: BLE001 - keep sending; the error is logged with its cause
                log.exception("outbox batch failed; retrying shortly")
                result = None
            if self._stopping:
                break
            if result is None or result.claimed == 0:
                self.outbox_wakeup.clear()
                try:
                    await asyncio.wait_for(self.outbox_wakeup.wait(), timeout=interval)
                except TimeoutError:
                    pass

    async def poll_local(self, name: str) -> None:
        settings = self.service.settings
        feed = next(f for f in settings.feeds.feeds if f.name == name)
        path = settings.path(feed.path or "")
        now = self.service.clock.now()
        try:
            docs = (demo_documents(path, now, feed.max_document_bytes) if feed.kind == "demo"
                    else directory_documents(path, feed.max_document_bytes))
            batch = [(d.key, d.origin, d.data) for d in docs]
        except OSError as exc:
            async with self.service.db.write() as conn:
                await feed_store.record_failure(conn, name, at=now, reason=f"cannot read {path}: {exc}")
            log.error("feed %s: cannot read %s: %s", name, path, exc)
            return
        results = await self.service.receive_documents(name, batch)
        async with self.service.db.write() as conn:
            await feed_store.record_success(conn, name, at=self.service.clock.now(), new_entries=len(results))
        if any(r.drafts.created for r in results):
            self.outbox_wakeup.set()

    async def sweep_expiry(self) -> None:
        now = self.service.clock.now()
        async with self.service.db.write() as conn:
            expired_alerts = await lifecycle.expire_due(conn, now)
            # 到期自动解除 where the source's convention is that expiry ends a warning (alerts/expiry.py).
            from alerts.expiry import follow_expired

            await follow_expired(self.service, conn, expired_alerts, now)
            for d in await draft_store.by_state(conn, ("pending",)):
                if d.expires_at is not None and d.expires_at <= now:
                    if await draft_store.transition(conn, d.id, "pending", "expired", at=now, by="system",
                                                    reason="its alert expired before approval"):
                        await audit.append(conn, at=now, actor="system", action="draft.expired",
                                           target=f"draft:{d.id}", origin="scheduler")
        if expired_alerts:
            log.info("expired alerts: %s", expired_alerts)
