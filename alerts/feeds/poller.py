"""Polled HTTP(S) feeds: conditional GET, bounded fetches, backoff with jitter, each entry once.

One `FeedPoller` per configured http feed; the scheduler calls `poll()` every interval. A poll
never raises: every failure ends up in the feeds table (last error, consecutive failures, next
poll time) and in the log, and a bad entry never stops the rest of the feed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import aiohttp

from alerts.feeds.cap import parse_alert
from alerts.feeds.fetch import Fetched, FetchError, fetch, shown
from alerts.feeds.index import FEED_LIMITS, IndexEntry, parse_index
from alerts.feeds.safexml import Rejected, parse_xml
from alerts.security.netguard import GuardedResolver, origin
from alerts.settings.feeds import FeedSection
from alerts.store import feeds as feed_store
from alerts.store import inputs
from alerts.store import problems as problem_store

if TYPE_CHECKING:
    from lxml import etree

    from alerts.app import Service

log = logging.getLogger("alerts.feeds")

FEED_ROOTS = ("feed", "rss", "RDF")
USER_AGENT = "alerts-gaoping/1 (+emergency science communication; polite poller)"


@dataclass
class PollReport:
    feed: str
    outcome: str  # fetched, not_modified, failed, skipped
    new_entries: int = 0
    alert_ids: list[int] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # entries to retry at the next poll
    drafts_created: int = 0
    error: str | None = None


def root_name(data: bytes) -> str | None:
    """Local name of the document's root element, or None when it is not sound XML."""
    return local_name(sound_root(data))


def sound_root(data: bytes) -> etree._Element | None:
    """The document parsed under the feed limits, or None when it is not sound XML."""
    try:
        return parse_xml(data, FEED_LIMITS)
    except Rejected:
        return None


def local_name(root: etree._Element | None) -> str | None:
    tag = root.tag if root is not None else None
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else None


def backoff_seconds(feed: FeedSection, failures: int, rng: random.Random) -> float:
    """interval × 2^(failures-1), capped, with 'equal jitter' so replicas and feeds do not march in step."""
    ceiling = min(feed.max_backoff_seconds, feed.interval_seconds * (2 ** min(max(failures - 1, 0), 20)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def entry_key(entry: IndexEntry) -> str:
    # An entry edited in place (new <updated>) is new content; the same entry polled again is not.
    return f"{entry.entry_id}|{entry.updated.isoformat() if entry.updated else ''}"


class FeedPoller:
    def __init__(self, service: Service, feed: FeedSection, *, env: Mapping[str, str] | None = None,
                 rng: random.Random | None = None, owner: str | None = None,
                 on_drafts: Callable[[], Any] | None = None):
        self.service = service
        self.feed = feed
        self.env = os.environ if env is None else env
        self.rng = rng or random.Random()
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_drafts = on_drafts
        self.credentials: dict[str, str] = {}

    @property
    def name(self) -> str:
        return self.feed.name

    def _lease_seconds(self) -> float:
        return self.feed.timeout_seconds * (self.feed.max_fetches_per_poll + 2) + 60

    async def poll(self) -> PollReport:
        """One poll; never raises. Skipped while in backoff or while another replica polls this feed."""
        clock, db = self.service.clock, self.service.db
        now = clock.now()
        async with db.write() as conn:
            leased = await feed_store.try_lease(conn, self.name, owner=self.owner, now=now,
                                                until=now + timedelta(seconds=self._lease_seconds()))
            row = await feed_store.get(conn, self.name) if leased else None
        if not leased:
            return PollReport(self.name, "skipped")
        try:
            report = await self._poll(row)
        except Exception as exc:  # noqa: BLE001 - the poller must survive anything; the cause is logged
            log.exception("feed %s: poll failed unexpectedly", self.name)
            report = await self._fail(f"internal error: {exc.__class__.__name__}: {exc}")
        finally:
            async with db.write() as conn:
                await feed_store.release(conn, self.name, owner=self.owner)
        if report.drafts_created and self.on_drafts is not None:
            self.on_drafts()
        return report

    def _credentials(self) -> dict[str, str]:
        """The feed's headers_from_env: credentials, sent only to the feed's own origin."""
        headers = {}
        for header, variable in self.feed.headers_from_env.items():
            value = self.env.get(variable)
            if not value:
                raise FetchError(f"environment variable {variable} (feeds.yaml {self.name}.headers_from_env."
                                 f"{header}) is not set; set it or remove the header")
            headers[header] = value
        return headers

    def _fetch(self, session: aiohttp.ClientSession, url: str, *, headers: Mapping[str, str], max_bytes: int,
               linked: bool) -> Any:
        """One fetch under this feed's rules; a linked document only from the feed's allowed origins."""
        return fetch(session, url, headers=headers, timeout=self.feed.timeout_seconds, max_bytes=max_bytes,
                     max_redirects=self.feed.max_redirects, allow=self.feed.networks, credentials=self.credentials,
                     credential_origin=origin(self.feed.url or ""), origins=self.feed.origins if linked else None,
                     what="a linked document" if linked else f"feed {self.name}")

    async def _fail(self, reason: str) -> PollReport:
        now = self.service.clock.now()
        async with self.service.db.write() as conn:
            failures = await feed_store.record_failure(conn, self.name, at=now, reason=reason)
            delay = backoff_seconds(self.feed, failures, self.rng)
            await feed_store.set_next_poll(conn, self.name, now + timedelta(seconds=delay))
        log.warning("feed %s: %s (failure %d in a row; next try in %.0f s)", self.name, reason, failures, delay)
        return PollReport(self.name, "failed", error=reason)

    async def _poll(self, row: Any) -> PollReport:
        feed = self.feed
        try:
            self.credentials = self._credentials()
        except FetchError as exc:
            return await self._fail(exc.reason)
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"}
        conditional = dict(headers)
        if row is not None and row.etag:
            conditional["If-None-Match"] = row.etag
        if row is not None and row.last_modified:
            conditional["If-Modified-Since"] = row.last_modified
        # Every address a name resolves to is checked at connect time (no DNS rebinding to 127.0.0.1).
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(feed.networks))
        async with aiohttp.ClientSession(connector=connector) as session:
            try:
                got = await self._fetch(session, feed.url or "", headers=conditional, max_bytes=feed.max_feed_bytes,
                                        linked=False)
            except FetchError as exc:
                if exc.partial:
                    await self._keep(exc.partial, f"feed {exc.reason}", origin=shown(feed.url or ""))
                return await self._fail(exc.reason)
            if got.status == 304:
                async with self.service.db.write() as conn:
                    await feed_store.record_success(conn, self.name, at=self.service.clock.now(), new_entries=0)
                return PollReport(self.name, "not_modified")
            if root_name(got.body) not in FEED_ROOTS:
                return await self._single_document(got)
            try:
                index = parse_index(got.body, got.url)
            except Rejected as exc:
                # Kept once per distinct content, however many polls see the same broken feed.
                if await self._claim("rejected:" + hashlib.sha256(got.body).hexdigest()[:32]):
                    await self._keep(got.body, f"feed rejected: {exc.reason}", origin=got.url)
                return await self._fail(f"feed rejected: {exc.reason}")
            report = PollReport(self.name, "fetched")
            for line in index.skipped:
                log.warning("feed %s: skipped %s", self.name, line)
            await self._entries(session, index.entries, headers, report)
        # Entries left for later must be fetched again, so the validators are only kept when
        # nothing was deferred; otherwise the next poll would get 304 and never see them.
        keep = not report.deferred
        now = self.service.clock.now()
        async with self.service.db.write() as conn:
            await feed_store.record_success(conn, self.name, at=now, new_entries=report.new_entries,
                                            etag=(got.etag or "") if keep else "",
                                            last_modified=(got.last_modified or "") if keep else "")
            if report.deferred:
                await feed_store.note_error(conn, self.name, at=now,
                                            reason=f"{len(report.deferred)} entries deferred: {report.deferred[0]}")
            await self._entry_problem(conn, report, now)
        log.info("feed %s: %d new entries, %d alerts, %d rejected, %d deferred", self.name, report.new_entries,
                 len(report.alert_ids), len(report.rejected), len(report.deferred))
        return report

    async def _entry_problem(self, conn: Any, report: PollReport, now: Any) -> None:
        """Entries that failed this poll are an operator problem until a poll gets them all through."""
        key = f"feed-entries:{self.name}"
        if not report.deferred:
            await problem_store.resolve(conn, key, at=now)
            return
        shown_reasons = "; ".join(report.deferred[:3]) + (f"; and {len(report.deferred) - 3} more"
                                                           if len(report.deferred) > 3 else "")
        await problem_store.report(
            conn, key=key, kind="feed_entries", severity="warning", subject=f"feed:{self.name}", at=now,
            what=f"数据源 {self.name}：{len(report.deferred)} 条目本次未能处理（其余条目已正常接收）",
            why=shown_reasons[:2000],
            todo="每次轮询都会重试这些条目。若原因是地址被拒绝（私有地址或非本源链接），确认可信后在 feeds.yaml 的 "
                 "fetch_origins / allow_networks 中列出；若是超时或服务器错误，请联系数据源提供方。")

    async def _single_document(self, got: Fetched) -> PollReport:
        """A URL that serves one CAP document rather than an index."""
        report = PollReport(self.name, "fetched")
        key = "doc:" + hashlib.sha256(got.body).hexdigest()[:32]
        try:
            parse_alert(got.body)
        except Rejected as exc:
            if await self._claim(key):
                await self._keep(got.body, f"neither a feed nor a CAP alert: {exc.reason}", origin=got.url)
            return await self._fail(f"neither an Atom/RSS feed nor a CAP alert: {exc.reason}")
        await self._receive(key, got.body, got.url, report)
        async with self.service.db.write() as conn:
            await feed_store.record_success(conn, self.name, at=self.service.clock.now(),
                                            new_entries=report.new_entries, etag=got.etag or "",
                                            last_modified=got.last_modified or "")
        return report

    async def _entries(self, session: aiohttp.ClientSession, entries: tuple[IndexEntry, ...],
                       headers: dict[str, str], report: PollReport) -> None:
        keys = [entry_key(e) for e in entries]
        async with self.service.db.read() as conn:
            seen = await feed_store.seen_keys(conn, self.name, keys)
        fetches = [0]
        # Feeds list the newest first; taking the oldest first lets an Update follow its Alert.
        for entry, key in reversed(list(zip(entries, keys, strict=True))):
            if key in seen:
                continue
            # Each entry on its own: whatever one entry does (a link the HTTP client refuses, a
            # timeout, a bug), it is recorded with its reason, retried next poll, and the rest go on.
            try:
                await self._entry(session, entry, key, headers, report, fetches)
            except Exception as exc:  # noqa: BLE001 - one entry must not stop the feed
                log.exception("feed %s: entry %s failed", self.name, entry.entry_id)
                report.deferred.append(f"entry {entry.entry_id}: internal error {exc.__class__.__name__}: "
                                       f"{str(exc)[:200]}")

    async def _entry(self, session: aiohttp.ClientSession, entry: IndexEntry, key: str, headers: dict[str, str],
                     report: PollReport, fetches: list[int]) -> None:
        origin_text = entry.link or entry.entry_id
        if entry.cap_xml is not None:
            await self._receive(key, entry.cap_xml, f"{shown(origin_text)} (embedded)", report)
            return
        if not entry.cap_link:
            if await self._claim(key):
                report.new_entries += 1
                log.info("feed %s: entry %s has no CAP document; counted, nothing to parse", self.name, entry.entry_id)
            return
        if fetches[0] >= self.feed.max_fetches_per_poll:
            report.deferred.append(f"entry {entry.entry_id}: over {self.feed.max_fetches_per_poll} fetches this poll")
            return
        fetches[0] += 1
        try:
            doc = await self._fetch(session, entry.cap_link, headers=headers, max_bytes=self.feed.max_document_bytes,
                                    linked=True)
        except FetchError as exc:
            if exc.refused or not exc.permanent:
                report.deferred.append(f"entry {entry.entry_id}: {exc.reason}")
                return
            # A document that can never be read is kept with its reason and not asked for again.
            if await self._claim(key):
                report.new_entries += 1
                await self._keep(exc.partial, f"linked CAP document: {exc.reason}", origin=shown(entry.cap_link))
                report.rejected.append(f"entry {entry.entry_id}: {exc.reason}")
            return
        await self._receive(key, doc.body, doc.url, report)

    async def _claim(self, key: str) -> bool:
        async with self.service.db.write() as conn:
            return await feed_store.claim_entry(conn, self.name, key, at=self.service.clock.now())

    async def _receive(self, key: str, data: bytes, origin: str, report: PollReport) -> None:
        """Run the pipeline; it claims the entry (once across replicas) with the document it stores."""
        try:
            intake = await self.service.receive(data, source=self.name, origin=origin, entry=(self.name, key))
        except Exception as exc:  # noqa: BLE001 - one entry must not stop the feed
            # Nothing was claimed (the transaction rolled back): the entry is tried again next poll.
            log.exception("feed %s: entry from %s failed in the pipeline", self.name, origin)
            report.deferred.append(f"{shown(origin)}: internal error {exc.__class__.__name__}")
            return
        if intake.seen_before:
            return
        report.new_entries += 1
        if intake.rejected:
            report.rejected.append(f"{origin}: {intake.rejected}")
        elif intake.alert_id is not None:
            report.alert_ids.append(intake.alert_id)
            report.drafts_created += len(intake.drafts.created)

    async def _keep(self, data: bytes, reason: str, *, origin: str) -> None:
        """Store what was received with why it was refused (the service keeps every input)."""
        async with self.service.db.write() as conn:
            await inputs.record(conn, data=data, source=self.name, origin=origin, at=self.service.clock.now(),
                                outcome="rejected", reason=reason)


async def poll_all(pollers: list[FeedPoller]) -> list[PollReport]:
    """Poll several feeds at once (used by tests and `alerts feeds poll`); each poll is independent."""
    return list(await asyncio.gather(*(p.poll() for p in pollers)))
