"""Fixtures for web tests: the real aiohttp app served on 127.0.0.1 over a World (real database, ManualClock)."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from alerts.web.app import make_app
from tests.workflow.support import PASSWORDS, World, build_world


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    world: World
    base: str

    def bearer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.tokens[name]}"}


async def serve(world: World) -> tuple[Served, web.AppRunner]:
    runner = web.AppRunner(make_app(world.service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Served(world, f"http://127.0.0.1:{port}"), runner


@pytest.fixture
async def served(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    world = await build_world(config_dir, database_url, tokens=True)
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


async def login(base: str, name: str, password: str | None = None) -> aiohttp.ClientSession:
    """A browser-like session (cookie jar) logged in to the console as `name`."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{base}/login") as r:
        token = csrf_of(await r.text())
    async with http.post(f"{base}/login", data={"csrf": token, "name": name,
                                                 "password": password or PASSWORDS[name]}) as r:
        # 403: logged in, but the role may not see the queue (e.g. a machine account).
        assert r.status in (200, 403) and str(r.url).endswith("/"), await r.text()
    return http
