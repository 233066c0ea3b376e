"""The event page in a real browser on a phone (390×844): who acknowledged and who is silent, per township
and village, readable without sideways scrolling; a task completed from the phone; the one-click link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerts.replies import handle_reply
from tests.events.support import events_world
from tests.web.conftest import Served, serve
from tests.workflow.support import PASSWORDS, sample_alert

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
async def served(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    world = await events_world(config_dir, database_url)
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


async def _page(browser: Any, served: Served, name: str) -> Any:
    ctx = await browser.new_context(locale="zh-CN", **PHONE)
    page = await ctx.new_page()
    await page.goto(f"{served.base}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served.base}/")
    return page


async def test_the_event_page_on_a_phone_shows_who_acknowledged_and_who_is_silent(browser: Any, served: Served,
                                                                                  screenshots: Path) -> None:
    world = served.world
    intake = await world.service.receive(sample_alert(level="red"), source="test")
    event_id = intake.event_id
    await world.service.events.run_once()
    async with world.service.db.write() as conn:
        await handle_reply(conn, phone="+8613900001011", body="收到", provider="test", at=world.clock.now(),
                           service_name="高平应急科普")
    world.clock.advance(minutes=10)
    await world.service.events.run_once()

    page = await _page(browser, served, "jy.officer")
    await page.click("nav >> text=事件")
    await page.wait_for_url(f"{served.base}/events")
    assert "暴雨红色预警" in await page.locator("main").inner_text()
    await page.click(f"a[href='/events/{event_id}']")
    await page.wait_for_url(f"**/events/{event_id}")
    await page.screenshot(path=str(screenshots / "event-phone.png"))
    await page.screenshot(path=str(screenshots / "event-phone-full.png"), full_page=True)

    # Nothing wider than the phone: no sideways scrolling.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px screen"
    assert await page.locator("#acked").inner_text() == "1/9"
    # Townships with silent units are open; the acknowledged village says who, when and how.
    dongzhou = page.locator("li[data-unit='米山镇东周村']")
    assert await dongzhou.is_visible()
    text = await dongzhou.inner_text()
    assert "✓" in text and "东周村书记（示例）" in text and "短信回复" in text and "05:35" in text
    silent = page.locator("li[data-unit='神农镇']")
    assert "✗ 未确认" in await silent.inner_text() and "神农镇长（示例）" in await silent.inner_text()
    assert await page.locator("#acks li.silent").count() == 8
    for i, section in enumerate(await page.locator("section.card").all()):
        await section.screenshot(path=str(screenshots / f"event-phone-section{i}.png"))

    # 教育局 completes its task from the phone; the buttons are big enough to tap.
    task = page.locator("#tasks li", has_text="研究决定学校安排")
    button = task.locator("button:has-text('标记完成')")
    box = await button.bounding_box()
    assert box is not None and box["height"] >= 44
    await task.locator("input[name=note]").fill("已通知学校停课一天")
    await button.click()
    await page.wait_for_load_state()
    assert "任务已标记完成" in await page.locator(".flash").inner_text()
    assert "已完成" in await page.locator("#tasks li", has_text="研究决定学校安排").inner_text()
    # Other departments' tasks offer no button to 教育局.
    assert await page.locator("#tasks li", has_text="指导用人单位").locator("button").count() == 0
    await page.context.close()


async def test_the_one_click_link_page_fits_a_phone_and_acknowledges_on_the_button(browser: Any, served: Served,
                                                                                   screenshots: Path) -> None:
    world = served.world
    intake = await world.service.receive(sample_alert(level="red"), source="test")
    view_task = None
    async with world.service.db.read() as conn:
        from alerts.events.view import event_view

        view = await event_view(conn, world.service.events, intake.event_id)  # type: ignore[arg-type]
        view_task = next(t for t in view["tasks"] if t["department"] == "jyj")  # type: ignore[index]
    link = world.service.events.link_for(view_task["request_id"], "g:dept-jyj", world.clock.now())
    assert link is not None
    ctx = await browser.new_context(locale="zh-CN", **PHONE)
    page = await ctx.new_page()
    await page.goto(served.base + link.split("example.cn", 1)[1])
    await page.screenshot(path=str(screenshots / "ack-link-phone.png"))
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.click("#ack")
    await page.wait_for_load_state()
    assert "已确认收到" in await page.locator("h1").inner_text()
    await ctx.close()
