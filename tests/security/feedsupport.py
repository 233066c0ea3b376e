"""Local HTTP servers for the feed attacks: a feed, an outside host and an 'internal' victim, all on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from alerts.app import Service
from alerts.clock import SHANGHAI, ManualClock
from alerts.settings import load_settings
from alerts.settings.feeds import FeedSection

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"
SAMPLE = (DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_bytes()
SAMPLE_ID = b"14058141600000_20260712053000"


def cap(n: int) -> bytes:
    return SAMPLE.replace(SAMPLE_ID, f"14058141600000_2026071205{n:04d}".encode())


@dataclass
class Host:
    """One HTTP server: serves /cap/{name} from `docs`, /feed.atom listing `links`, and redirects."""

    docs: dict[str, bytes] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (entry id, href)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    slow: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    base: str = ""

    def atom(self) -> bytes:
        items = "".join(
            f"<entry><id>urn:test:{eid}</id><title>{eid}</title><updated>2026-07-12T05:30:00+08:00</updated>"
            f'<link rel="alternate" type="application/cap+xml" href="{href}"/></entry>'
            for eid, href in self.links)
        return (f'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<id>urn:test:feed</id><title>t</title><updated>2026-07-12T05:30:00+08:00</updated>{items}</feed>"
                ).encode()

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests.append((request.path, dict(request.headers)))
            if request.path in self.redirects:
                raise web.HTTPFound(self.redirects[request.path])
            if request.path == "/feed.atom":
                return web.Response(body=self.atom(), content_type="application/atom+xml")
            name = request.path.rsplit("/", 1)[-1]
            if name in self.slow:
                await asyncio.sleep(3)
            if name in self.docs:
                return web.Response(body=self.docs[name], content_type="application/cap+xml")
            return web.Response(status=404, text="no such document")

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        return app

    def seen(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if p == path]


@asynccontextmanager
async def hosting(host: Host, address: str = "127.0.0.1") -> AsyncIterator[Host]:
    runner = web.AppRunner(host.app())
    await runner.setup()
    site = web.TCPSite(runner, address, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    host.base = f"http://{address}:{port}"
    try:
        yield host
    finally:
        await runner.cleanup()


def make_service(config_dir: Path, database: Any) -> Service:
    settings = load_settings(config_dir, env={})
    return Service(settings, clock=ManualClock(datetime(2026, 7, 12, 5, 35, tzinfo=SHANGHAI)), db=database)


def feed(url: str, **kw: Any) -> FeedSection:
    values: dict[str, Any] = dict(name="bureau", kind="http", url=url, interval_seconds=60, timeout_seconds=1.0,
                                  stale_after_seconds=600, max_backoff_seconds=3600,
                                  allow_networks=["127.0.0.1/32"])  # the feed's own server; nothing else inside
    values.update(kw)
    return FeedSection(**values)
