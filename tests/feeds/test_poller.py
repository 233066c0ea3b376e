"""The HTTP poller against a real feed server on 127.0.0.1: changing, failing, slow, oversized, redirecting."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from alerts.app import Service
from alerts.clock import SHANGHAI, ManualClock
from alerts.feeds.health import StaleWatch, feed_health
from alerts.feeds.poller import FeedPoller, backoff_seconds
from alerts.settings import load_settings
from alerts.settings.feeds import FeedSection
from alerts.store import feeds as feed_store
from alerts.store.tables import alerts, raw_inputs

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"
SAMPLE = (DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_bytes()
SAMPLE_ID = b"14058141600000_20260712053000"


def cap(n: int) -> bytes:
    """A distinct Gaoping alert per n (same content, its own identifier)."""
    return SAMPLE.replace(SAMPLE_ID, f"14058141600000_2026071205{n:04d}".encode())


@dataclass
class FeedServer:
    """State the handlers serve from; tests change it between polls."""

    entries: list[str] = field(default_factory=list)  # names of documents under /cap/
    docs: dict[str, bytes] = field(default_factory=dict)
    fail_feed: bool = False
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base: str = ""

    def atom(self) -> bytes:
        items = "".join(
            f"<entry><id>urn:test:{name}</id><title>alert {name}</title>"
            f"<updated>2026-07-12T05:30:00+08:00</updated>"
            f'<link rel="alternate" type="application/cap+xml" href="/cap/{name}"/></entry>'
            for name in self.entries
        )
        return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<id>urn:test:feed</id><title>test feed</title><updated>2026-07-12T05:30:00+08:00</updated>"
                f"{items}</feed>").encode()


def make_app(state: FeedServer) -> web.Application:
    routes = web.RouteTableDef()

    @web.middleware
    async def remember(request: web.Request, handler: Any) -> web.StreamResponse:
        state.requests.append((request.path, dict(request.headers)))
        return await handler(request)

    @routes.get("/feed.atom")
    async def feed(request: web.Request) -> web.StreamResponse:
        if state.fail_feed:
            return web.Response(status=503, text="down for maintenance")
        body = state.atom()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/atom+xml",
                            headers={"ETag": etag, "Last-Modified": "Sun, 12 Jul 2026 05:30:00 GMT"})

    @routes.get("/gzip.atom")
    async def gz(request: web.Request) -> web.StreamResponse:
        return web.Response(body=gzip.compress(state.atom()), headers={"Content-Encoding": "gzip",
                                                                         "Content-Type": "application/atom+xml"})

    @routes.get("/cap/{name}")
    async def doc(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name.startswith("slow"):
            await asyncio.sleep(5)
        if name.startswith("flaky") and sum(1 for p, _ in state.requests if p == request.path) == 1:
            return web.Response(status=500, text="try later")
        if name not in state.docs:
            return web.Response(status=404, text="gone")
        return web.Response(body=state.docs[name], content_type="application/cap+xml")

    @routes.get("/slow.atom")
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(5)
        return web.Response(body=state.atom())

    @routes.get("/big.atom")
    async def big(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # no Content-Length: the reader must count for itself
        await response.prepare(request)
        for _ in range(64):
            await response.write(b"<!-- padding -->" * 256)
        return response

    @routes.get("/redirect/{n}")
    async def redirect(request: web.Request) -> web.StreamResponse:
        n = int(request.match_info["n"])
        raise web.HTTPFound("/feed.atom" if n == 0 else f"/redirect/{n - 1}")

    @routes.get("/auth.atom")
    async def auth(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != "Bearer feed-secret":
            return web.Response(status=401, text="who are you")
        return web.Response(body=state.atom(), content_type="application/atom+xml")

    @routes.get("/not-a-feed")
    async def junk(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html><body>maintenance</body></html>", content_type="text/html")

    app = web.Application(middlewares=[remember])
    app.add_routes(routes)
    return app


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    state = FeedServer()
    runner = web.AppRunner(make_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.fixture
async def service(config_dir: Path, database: Any) -> AsyncIterator[Service]:
    settings = load_settings(config_dir, env={})
    svc = Service(settings, clock=ManualClock(datetime(2026, 7, 12, 5, 35, tzinfo=SHANGHAI)), db=database)
    yield svc
    for channel in svc.channels.values():
        await channel.close()


def http_feed(url: str, **kw: Any) -> FeedSection:
    values: dict[str, Any] = dict(name="test", kind="http", url=url, interval_seconds=60, timeout_seconds=1.0,
                                  stale_after_seconds=600, max_backoff_seconds=3600,
                                  allow_networks=["127.0.0.0/8"])  # the test server is on loopback
    values.update(kw)
    return FeedSection(**values)


async def count(service: Service, table: Any, *where: Any) -> int:
    async with service.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table).where(*where))).scalar_one())


async def health_row(service: Service, name: str = "test") -> Any:
    async with service.db.read() as conn:
        return await feed_store.get(conn, name)


async def test_conditional_get_fetches_new_entries_once_and_then_gets_304(server: FeedServer, service: Service) -> None:
    server.docs = {"a": cap(1), "b": cap(2)}
    server.entries = ["a", "b"]
    poller = FeedPoller(service, http_feed(f"{server.base}/feed.atom"))

    first = await poller.poll()
    assert first.outcome == "fetched" and first.new_entries == 2 and len(first.alert_ids) == 2
    second = await poller.poll()
    assert second.outcome == "not_modified"
    feed_requests = [h for p, h in server.requests if p == "/feed.atom"]
    assert "If-None-Match" not in feed_requests[0]
    assert feed_requests[1]["If-None-Match"].startswith('"')
    assert feed_requests[1]["If-Modified-Since"] == "Sun, 12 Jul 2026 05:30:00 GMT"

    # The feed changes: only the new entry's document is fetched.
    server.docs["c"] = cap(3)
    server.entries = ["c", "a", "b"]
    third = await poller.poll()
    assert third.new_entries == 1 and len(third.alert_ids) == 1
    assert [p for p, _ in server.requests if p.startswith("/cap/")] == ["/cap/b", "/cap/a", "/cap/c"]
    assert await count(service, alerts) == 3
    row = await health_row(service)
    assert row.entries_seen == 3 and row.consecutive_failures == 0 and row.last_success_at is not None


async def test_failures_back_off_with_jitter_and_recover(server: FeedServer, service: Service) -> None:
    server.docs = {"a": cap(1)}
    server.entries = ["a"]
    server.fail_feed = True
    clock = service.clock
    assert isinstance(clock, ManualClock)
    poller = FeedPoller(service, http_feed(f"{server.base}/feed.atom"), rng=random.Random(7))

    failed = await poller.poll()
    assert failed.outcome == "failed" and "HTTP 503" in (failed.error or "")
    row = await health_row(service)
    assert row.consecutive_failures == 1 and "HTTP 503" in row.last_error
    first_wait = (row.next_poll_at - clock.now()).total_seconds()
    assert 30 <= first_wait <= 60  # interval 60 s, equal jitter: between half and all of it

    # While backing off, a scheduled poll does not even ask the server.
    asked = len(server.requests)
    assert (await poller.poll()).outcome == "skipped"
    assert len(server.requests) == asked

    clock.advance(seconds=61)
    assert (await poller.poll()).outcome == "failed"
    row = await health_row(service)
    assert row.consecutive_failures == 2
    assert 60 <= (row.next_poll_at - clock.now()).total_seconds() <= 120  # doubled

    server.fail_feed = False
    clock.advance(seconds=121)
    recovered = await poller.poll()
    assert recovered.outcome == "fetched" and len(recovered.alert_ids) == 1
    row = await health_row(service)
    assert row.consecutive_failures == 0 and row.next_poll_at is None
    assert "HTTP 503" in row.last_error  # the last error stays visible after recovery


def test_backoff_is_capped() -> None:
    feed = http_feed("http://127.0.0.1/x", max_backoff_seconds=300)
    rng = random.Random(1)
    assert all(150 <= backoff_seconds(feed, 30, rng) <= 300 for _ in range(50))


async def test_slow_oversized_and_junk_feeds_fail_with_reasons(server: FeedServer, service: Service) -> None:
    slow = await FeedPoller(service, http_feed(f"{server.base}/slow.atom", name="slow", timeout_seconds=0.3)).poll()
    assert slow.outcome == "failed" and "timed out" in (slow.error or "")

    big = await FeedPoller(service, http_feed(f"{server.base}/big.atom", name="big", max_feed_bytes=4096)).poll()
    assert big.outcome == "failed" and "larger than the limit of 4096 bytes" in (big.error or "")

    junk = await FeedPoller(service, http_feed(f"{server.base}/not-a-feed", name="junk")).poll()
    assert junk.outcome == "failed" and "neither an Atom/RSS feed nor a CAP alert" in (junk.error or "")
    kept = await count(service, raw_inputs, raw_inputs.c.source == "junk", raw_inputs.c.outcome == "rejected")
    assert kept == 1

    async with service.db.read() as conn:
        rows = {r.name: r for r in await feed_store.all_feeds(conn)}
    assert {rows[n].consecutive_failures for n in ("slow", "big", "junk")} == {1}


async def test_redirects_are_followed_within_the_bound(server: FeedServer, service: Service) -> None:
    server.docs = {"a": cap(1)}
    server.entries = ["a"]
    ok = await FeedPoller(service, http_feed(f"{server.base}/redirect/2", name="near", max_redirects=3)).poll()
    assert ok.outcome == "fetched" and len(ok.alert_ids) == 1
    far = await FeedPoller(service, http_feed(f"{server.base}/redirect/6", name="far", max_redirects=3)).poll()
    assert far.outcome == "failed" and "too many redirects" in (far.error or "")


async def test_gzip_feed_is_read(server: FeedServer, service: Service) -> None:
    server.docs = {"a": cap(1)}
    server.entries = ["a"]
    report = await FeedPoller(service, http_feed(f"{server.base}/gzip.atom")).poll()
    assert report.outcome == "fetched" and len(report.alert_ids) == 1


async def test_bad_entries_are_kept_with_reasons_and_never_stop_the_rest(server: FeedServer, service: Service) -> None:
    server.docs = {
        "good1": cap(1),
        "broken": b"<alert><identifier>x</identifier>",  # not well-formed
        "xee": (DATA / "google-xee.cap").read_bytes(),
        "huge": b"<alert>" + b" " * 10000 + b"</alert>",
        "flaky": cap(2),  # 500 on the first fetch, fine on the second
        "good2": cap(3),
    }
    server.entries = ["good2", "flaky", "huge", "xee", "broken", "good1", "missing"]
    poller = FeedPoller(service, http_feed(f"{server.base}/feed.atom", max_document_bytes=8192))

    report = await poller.poll()
    assert report.outcome == "fetched"
    assert len(report.alert_ids) == 2  # good1, good2
    assert len(report.rejected) == 4  # broken, xee, huge (too large), missing (404)
    assert any("limit of 8192 bytes" in r for r in report.rejected)
    assert any("HTTP 404" in r for r in report.rejected)
    assert len(report.deferred) == 1 and "HTTP 500" in report.deferred[0]
    reasons = [r.reason for r in await rejected_inputs(service)]
    assert any("not well-formed" in r for r in reasons)
    assert any("DOCTYPE" in r for r in reasons)
    row = await health_row(service)
    assert row.consecutive_failures == 0 and "deferred" in row.last_error
    assert not row.etag, "validators are dropped while an entry waits, so the next poll sees it again"

    again = await poller.poll()
    assert again.outcome == "fetched" and len(again.alert_ids) == 1 and not again.deferred  # flaky, now fine
    assert await count(service, alerts) == 3
    # Nothing already decided is fetched twice.
    fetched = [p for p, _ in server.requests if p.startswith("/cap/")]
    assert fetched.count("/cap/good1") == 1 and fetched.count("/cap/broken") == 1 and fetched.count("/cap/flaky") == 2


async def rejected_inputs(service: Service) -> list[Any]:
    async with service.db.read() as conn:
        return list(await conn.execute(select(raw_inputs).where(raw_inputs.c.outcome == "rejected")))


async def test_a_slow_linked_document_is_retried_later_not_lost(server: FeedServer, service: Service) -> None:
    server.docs = {"slow1": cap(1), "quick": cap(2)}
    server.entries = ["slow1", "quick"]
    poller = FeedPoller(service, http_feed(f"{server.base}/feed.atom", timeout_seconds=0.3))
    report = await poller.poll()
    assert len(report.alert_ids) == 1 and "timed out" in report.deferred[0]
    entries = await count(service, raw_inputs)
    assert entries == 1


async def test_auth_headers_come_from_the_environment_and_are_never_shown(server: FeedServer, service: Service) -> None:
    server.docs = {"a": cap(1)}
    server.entries = ["a"]
    feed = http_feed(f"{server.base}/auth.atom", headers_from_env={"Authorization": "TEST_FEED_AUTH"})
    missing = await FeedPoller(service, feed, env={}).poll()
    assert missing.outcome == "failed" and "TEST_FEED_AUTH" in (missing.error or "")
    service.clock.advance(seconds=3600)  # type: ignore[attr-defined]
    ok = await FeedPoller(service, feed, env={"TEST_FEED_AUTH": "Bearer feed-secret"}).poll()
    assert ok.outcome == "fetched" and len(ok.alert_ids) == 1
    row = await health_row(service)
    assert "feed-secret" not in row.last_error


async def test_two_replicas_process_each_entry_once(server: FeedServer, service: Service) -> None:
    server.docs = {f"d{i}": cap(i) for i in range(6)}
    server.entries = list(server.docs)
    feed = http_feed(f"{server.base}/feed.atom")
    one, two = FeedPoller(service, feed, owner="replica-1"), FeedPoller(service, feed, owner="replica-2")
    reports = await asyncio.gather(one.poll(), two.poll())
    assert sorted(r.outcome for r in reports) == ["fetched", "skipped"]  # the lease lets one poll at a time
    # Even without the lease (expired, say), entries already claimed are not processed again.
    async with service.db.write() as conn:
        await feed_store.set_next_poll(conn, "test", None)
        await feed_store.record_success(conn, "test", at=service.clock.now(), new_entries=0, etag="")
    again = await two.poll()
    assert again.outcome == "fetched" and again.new_entries == 0
    assert await count(service, alerts) == 6 and await count(service, raw_inputs) == 6


async def test_a_silent_feed_is_flagged_stale_and_logged_once(server: FeedServer, service: Service,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    server.entries = []
    feed = http_feed(f"{server.base}/feed.atom", stale_after_seconds=600)
    service.settings.feeds = service.settings.feeds.model_copy(update={"feeds": [feed]})
    before = feed_health([feed], [], service.clock.now())
    assert before[0].stale and before[0].silent_seconds is None  # never heard from
    await FeedPoller(service, feed).poll()
    watch = StaleWatch(service)
    assert not (await watch.check())[0].stale

    server.fail_feed = True
    service.clock.advance(seconds=601)  # type: ignore[attr-defined]
    await FeedPoller(service, feed).poll()
    with caplog.at_level("WARNING", logger="alerts.feeds"):
        [h] = await watch.check()
        await watch.check()
    assert h.stale and h.consecutive_failures == 1 and "HTTP 503" in h.last_error
    assert sum("is STALE" in r.message for r in caplog.records) == 1
    assert h.silent_seconds is not None and h.silent_seconds > timedelta(seconds=600).total_seconds()


def test_credentials_in_a_url_are_never_shown() -> None:
    from alerts.feeds.poller import shown

    assert shown("https://user:pa55@example.org/feed.atom?x=1") == "https://example.org/feed.atom?x=1"
    assert shown("http://127.0.0.1:8080/feed") == "http://127.0.0.1:8080/feed"


async def test_the_scheduler_polls_http_feeds(server: FeedServer, config_dir: Path, database: Any) -> None:
    from alerts.clock import Clock
    from alerts.scheduler import Background

    server.docs = {"a": cap(1), "b": cap(2)}
    server.entries = ["a", "b"]
    feeds = config_dir / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - name: bureau\n    kind: http\n    url: {server.base}/feed.atom\n"
                     "    interval_seconds: 60\n    allow_networks: [127.0.0.0/8]\n", encoding="utf-8")
    svc = Service(load_settings(config_dir, env={}), clock=Clock(), db=database)
    background = Background(svc)
    background.start()
    try:
        for _ in range(200):  # bounded: at most about 20 s
            if await count(svc, alerts) == 2:
                break
            await asyncio.sleep(0.1)
        assert await count(svc, alerts) == 2
        assert background.scheduler.get_job("feed:bureau") is not None
        assert background.scheduler.get_job("feed-staleness") is not None
    finally:
        await background.stop(5)
        for channel in svc.channels.values():
            await channel.close()
