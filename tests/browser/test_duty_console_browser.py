"""The night duty officer's console in a real browser on a 390×844 phone: the draft page in its order, the
citywide red confirmation without a second page load, refresh after approve, the delivery report with its
chart, CSV and A4 export, and the phone lookup. The page itself never scrolls sideways."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerts.store import drafts as draft_store
from tests.web.conftest import Served, serve
from tests.web.test_draft_page import ingest_citywide_red
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


async def signed_in(browser: Any, served: Served, name: str) -> Any:
    ctx = await browser.new_context(locale="zh-CN", accept_downloads=True, **PHONE)
    page = await ctx.new_page()
    await page.goto(f"{served.base}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served.base}/")
    return page


async def fits(page: Any) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"


async def test_approving_a_citywide_red_warning_on_a_phone(browser: Any, served: Served) -> None:
    draft_id = await ingest_citywide_red(served)
    page = await signed_in(browser, served, "wang.approver")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    await fits(page)
    # What happened, the texts, whom they reach, then the decision: top to bottom.
    tops = [await page.locator(sel).first.evaluate("e => e.getBoundingClientRect().top + window.scrollY")
            for sel in ("#what", "#texts", "p.reaches", "#decide")]
    assert tops == sorted(tops), tops
    confirm = page.locator("input[name=confirm_citywide]")
    assert "将向高平市全境约" in await page.locator(".red-confirm").inner_text()
    # Approving without the box: the browser stops it on the page, no request, no second page load.
    await page.click("#approve-form button[type=submit]")
    assert page.url == f"{served.base}/drafts/{draft_id}"
    assert await confirm.evaluate("e => !e.validity.valid")
    async with served.world.service.db.read() as conn:
        assert (await draft_store.get(conn, draft_id)).row.state == "pending"  # type: ignore[union-attr]
    await confirm.check()
    await page.click("#approve-form button[type=submit]")
    await page.wait_for_load_state()
    assert "已批准，正在发送" in await page.locator("p.flash").inner_text()
    # Refresh: nothing is sent again, no error, no English.
    await page.reload()
    assert await page.locator("p.flash").count() == 0
    assert "已批准" in await page.locator("#state").inner_text() or "发送中" in await page.locator("#state").inner_text()
    await page.context.close()


async def test_the_delivery_report_with_chart_csv_and_a4_on_a_phone(browser: Any, served: Served,
                                                                     tmp_path: Path) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    page = await signed_in(browser, served, "liu.observer")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    await page.click(f"a[href='/reports/drafts/{draft_id}']")
    await page.wait_for_url(f"{served.base}/reports/drafts/{draft_id}")
    await fits(page)
    assert await page.locator("figure.chart svg rect.bar").count() >= 1
    assert await page.locator("figure.chart svg").is_visible()
    async with page.expect_download() as download:
        await page.click("a[href$='format=csv']")
    saved = tmp_path / "report.csv"
    await (await download.value).save_as(saved)
    assert saved.read_text(encoding="utf-8-sig").startswith("乡镇,村（社区）,应发")
    await page.goto(f"{served.base}/reports/drafts/{draft_id}?format=print")
    await page.emulate_media(media="print")
    pdf = await page.pdf(format="A4", prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 2000
    await page.context.close()


async def test_the_phone_lookup_on_a_phone(browser: Any, served: Served) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    page = await signed_in(browser, served, "wang.approver")
    await page.click("nav a[href='/lookup']")
    await page.fill("input[name=phone]", "8000")
    await page.select_option("select[name=township]", label="米山镇")
    await page.click("form.lookup button[type=submit]")
    await page.wait_for_selector("#results")
    await fits(page)
    text = await page.locator("#results").inner_text()
    assert "+86 138****8000" in text and f"#{draft_id}" in text and "13800138000" not in text
    assert "8000" not in page.url
    await page.context.close()


async def test_the_drill_scorecard_on_a_phone(browser: Any, served: Served) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange", status="Exercise")
    world.clock.advance(minutes=2)
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    page = await signed_in(browser, served, "wang.approver")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    await page.click(f"a[href='/reports/drafts/{draft_id}/drill']")
    await page.wait_for_url(f"{served.base}/reports/drafts/{draft_id}/drill")
    await fits(page)
    table = await page.locator("table.drill").inner_text()
    assert "审批通过" in table and "2.0 分钟" in table and "达标" in table
    await page.context.close()
