"""Fixtures for the attack tests: the real app on 127.0.0.1, optionally behind a (trusted) proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.web.conftest import Served, csrf_of, serve, served  # noqa: F401 - the fixture, for these tests
from tests.workflow.support import build_world


@pytest.fixture
async def proxied(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    """The service as deployed behind a reverse proxy on this host: 127.0.0.1 is a trusted proxy."""
    service_yaml = config_dir / "service.yaml"
    text = service_yaml.read_text(encoding="utf-8")
    service_yaml.write_text(text.replace("trusted_proxies: []", "trusted_proxies: [127.0.0.1/32]"), encoding="utf-8")
    world = await build_world(config_dir, database_url, tokens=True)
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


async def try_login(http: aiohttp.ClientSession, base: str, name: str, password: str,
                    headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
    """One sign-in attempt as a browser makes it (the login form's CSRF token first)."""
    async with http.get(f"{base}/login", headers=headers) as r:
        token = csrf_of(await r.text())
    response = await http.post(f"{base}/login", data={"csrf": token, "name": name, "password": password},
                               headers=headers, allow_redirects=False)
    await response.read()
    return response


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
