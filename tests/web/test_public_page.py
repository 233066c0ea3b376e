"""The public page: no login, the warnings in force with their townships, large type and no script,
linked from the Atom feed; an expired warning is no longer shown as in force."""

from __future__ import annotations

import aiohttp

from tests.web.conftest import Served


async def test_the_public_page_shows_the_warning_in_force_without_login(served: Served) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(f"{served.base}/public", allow_redirects=False) as r:
            page = await r.text()
            assert r.status == 200 and "max-age" in r.headers.get("Cache-Control", "")
        assert "正在生效的预警（1）" in page and "橙色" in page and "暴雨" in page
        assert "米山镇、三甲镇、神农镇" in page and "<script" not in page and "/feeds/alerts.atom" in page
        async with anonymous.get(f"{served.base}/feeds/alerts.atom") as r:
            assert "/public" in await r.text()
        world.clock.advance(hours=48)  # past the warning's expiry
        async with anonymous.get(f"{served.base}/public") as r:
            assert "目前没有正在生效的预警" in await r.text()


async def test_drills_and_pending_drafts_are_not_public(served: Served) -> None:
    world = served.world
    await world.ingest(level="orange")  # pending
    drill = await world.ingest(level="red", status="Exercise", identifier="14058141600000_20260712060000")
    await world.service.actions.approve(world.users["wang.approver"], drill, origin="test")
    async with aiohttp.ClientSession() as anonymous, anonymous.get(f"{served.base}/public") as r:
        page = await r.text()
    assert "目前没有正在生效的预警" in page and "红色" not in page
