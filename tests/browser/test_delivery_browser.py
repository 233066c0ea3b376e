"""The 投递情况 page in a real browser on a phone: readable without sideways scrolling of the page (the
township table scrolls in its own box), figures and the health verdict on top."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import Served, serve
from tests.workflow.support import PASSWORDS, build_world

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
async def served(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    world = await build_world(config_dir, database_url)
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_the_delivery_page_reads_on_a_phone(browser: Any, served: Served, screenshots: Path) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    ctx = await browser.new_context(locale="zh-CN", **PHONE)
    page = await ctx.new_page()
    await page.goto(f"{served.base}/login")
    await page.fill("input[name=name]", "liu.observer")
    await page.fill("input[name=password]", PASSWORDS["liu.observer"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served.base}/")
    await page.click("nav a[href='/delivery']")
    await page.wait_for_url(f"{served.base}/delivery")
    assert await page.locator("h2.good").inner_text() == "发送正常"
    assert await page.locator("section.chain table.townships tbody tr").count() >= 1
    assert "应发" in await page.locator("section.chain p.counts").first.inner_text()
    page_width = await page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= 390, "the page itself never scrolls sideways on a phone"
    await page.screenshot(path=str(screenshots / "delivery-phone.png"), full_page=True)
    await ctx.close()
