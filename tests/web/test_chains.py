"""Chains over HTTP: a cross-source Cancel is refused (403, kept with its reason); the chain's own source
ends it; the in-force page and API list what still stands (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from alerts.store import users as user_store
from alerts.store.tables import drafts, raw_inputs
from tests.chain_support import doc
from tests.web.conftest import Served, login, serve
from tests.workflow.support import World, build_world

FIRST = "14058141600000_20260712053000"
CANCEL = doc("C1", msg_type="Cancel", follows=FIRST, sent="2026-07-12 06:30:00+08:00",
             headline="高平市气象台解除暴雨橙色预警信号")


@pytest.fixture
async def served(config_dir: Any, database_url: str) -> AsyncIterator[Served]:
    world: World = await build_world(config_dir, database_url, tokens=True)
    async with world.service.db.write() as conn:  # a second source account, of another body
        other = await user_store.add(conn, "county.source", ["source"], "county-password-1", at=world.clock.now())
        world.tokens["county.source"] = await user_store.create_token(conn, other, "push", at=world.clock.now())
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


async def push(served: Served, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(f"{served.base}/api/v1/alerts", data=body,
                                                          headers=served.bearer(name)) as r:
        return r.status, await r.json()


async def test_a_cancel_from_another_source_is_refused_and_kept_and_the_own_source_ends_the_chain(
        served: Served) -> None:
    status, first = await push(served, "feed.source", doc(FIRST))
    assert status == 202 and first["stage"] == "new" and first["drafts"]
    status, body = await push(served, "county.source", CANCEL)
    assert status == 403
    assert "push:county.source" in body["error"] and "push:feed.source" in body["error"]
    assert "source_groups" in body["error"] and "raw input" in body["error"]
    async with served.world.service.db.read() as conn:
        kept = (await conn.execute(select(raw_inputs).where(raw_inputs.c.outcome == "refused"))).first()
        draft_state = (await conn.execute(select(drafts.c.state).where(drafts.c.id == first["drafts"][0]))).scalar()
    assert kept is not None and kept.source == "push:county.source" and "started by push:feed.source" in kept.reason
    assert kept.content == CANCEL and draft_state == "pending", "the other source's Cancel changed nothing"
    status, body = await push(served, "feed.source", CANCEL)
    assert status == 202 and body["stage"] == "end" and body["withdrawn"] == first["drafts"]


async def test_the_in_force_page_and_api_list_chains_until_they_end(served: Served) -> None:
    await push(served, "feed.source", doc(FIRST))
    await push(served, "feed.source", doc("T1", hazard="lightning", level="yellow", towns=("北城街道",)))
    async with aiohttp.ClientSession() as http, http.get(f"{served.base}/api/v1/chains",
                                                         headers=served.bearer("wang.approver")) as r:
        assert r.status == 200
        chains = (await r.json())["chains"]
    assert {(c["identifier"], c["hazard"], c["level"], c["stage"]) for c in chains} == {
        (FIRST, "rainstorm", "orange", "new"), ("T1", "lightning", "yellow", "new")}
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/chains") as r:
            page = await r.text()
            assert r.status == 200
    finally:
        await http.close()
    assert "在发预警" in page and "米山镇、三甲镇、神农镇" in page and "雷电" in page
    assert 'name="viewport"' in page, "phone-friendly like every console page"
    await push(served, "feed.source", CANCEL)
    async with aiohttp.ClientSession() as http, http.get(f"{served.base}/api/v1/chains",
                                                         headers=served.bearer("liu.observer")) as r:
        assert [c["identifier"] for c in (await r.json())["chains"]] == ["T1"]
