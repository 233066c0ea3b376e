"""/metrics is not open to anyone on loopback: the scrape token or a token of a role with `view`.

Before: every request from 127.0.0.1 without X-Forwarded-For read the metrics, i.e. any process
on the host and anything a local proxy forwarded without that header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from alerts.settings import load_settings
from tests.web.conftest import Served, serve
from tests.workflow.support import build_world

SCRAPE = "scrape-token-for-prometheus-0123"


@pytest.fixture
async def site(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    world = await build_world(config_dir, database_url, tokens=True)
    world.service.settings.secrets = load_settings(config_dir, env={"ALERTS_METRICS_TOKEN": SCRAPE}).secrets
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_metrics_need_the_scrape_token_or_a_view_token_even_on_loopback(site: Served) -> None:
    url = f"{site.base}/metrics"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as r:
            assert r.status == 401, "being on the same host is no credential"
        async with http.get(url, headers={"Authorization": "Bearer not-the-token"}) as r:
            assert r.status == 401
        async with http.get(url, headers={"Authorization": f"Bearer {SCRAPE}"}) as r:
            assert r.status == 200 and "alerts_" in await r.text()
        async with http.get(url, headers=site.bearer("feed.source")) as r:
            assert r.status == 403
        async with http.get(url, headers=site.bearer("liu.observer")) as r:
            assert r.status == 200
