"""The console in a real browser: approve as a second user and see it sent; four eyes; observers; CSRF; phone view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerts.store import drafts as draft_store
from alerts.store import users as user_store
from tests.web.conftest import Served, serve
from tests.workflow.support import PASSWORDS, build_world, password_hash

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
async def served(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    world = await build_world(config_dir, database_url)
    async with world.service.db.write() as conn:
        world.users["sun.both"] = await user_store.add(conn, "sun.both", ["editor", "approver"], "both-password-1",
                                                       at=world.clock.now(), password_hash=password_hash("both-password-1"))
    PASSWORDS.setdefault("sun.both", "both-password-1")
    s, runner = await serve(world)
    try:
        yield s
    finally:
        await runner.cleanup()
        await world.service.close()


async def _page(browser: Any, served: Served, name: str, **context: Any) -> Any:
    ctx = await browser.new_context(locale="zh-CN", **context)
    page = await ctx.new_page()
    await page.goto(f"{served.base}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served.base}/")
    return page


async def _state(served: Served, draft_id: int) -> str:
    async with served.world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    return record.state


async def test_a_pending_draft_is_approved_by_a_second_user_and_seen_sent(browser: Any, served: Served,
                                                                         screenshots: Path) -> None:
    # Yellow: the normal path, two approvers.
    draft_id = await served.world.ingest(level="yellow")
    first = await _page(browser, served, "wang.approver", **PHONE)
    link = first.locator(f"a[href='/drafts/{draft_id}']")
    assert "暴雨" in await link.inner_text() and "黄色" in await link.inner_text()
    await first.screenshot(path=str(screenshots / "queue-phone.png"), full_page=True)
    await link.click()
    await first.wait_for_url(f"**/drafts/{draft_id}")
    await first.screenshot(path=str(screenshots / "draft-phone.png"))  # the first screen an approver sees
    await first.screenshot(path=str(screenshots / "draft-phone-full.png"), full_page=True)
    for i, section in enumerate(await first.locator("section.card").all()):
        await section.screenshot(path=str(screenshots / f"draft-phone-section{i}.png"))
    await first.click("text=批准发送")
    assert "还需要另一位审批人" in await first.locator(".flash").inner_text()
    assert await first.locator("button:has-text('批准发送')").is_disabled()  # not twice by the same person
    await first.context.close()

    second = await _page(browser, served, "zhao.approver")
    await second.goto(f"{served.base}/drafts/{draft_id}")
    await second.click("text=批准发送")
    assert "已批准，正在发送" in await second.locator(".flash").inner_text()
    await served.world.service.worker.drain()
    await second.reload()
    assert await second.locator("#state").inner_text() == "已发送"
    assert "已发送" in await second.locator(".counts").inner_text()
    await second.goto(f"{served.base}/sent")
    assert f"#{draft_id}" in await second.locator("main").inner_text()
    await second.context.close()


async def test_the_queue_refreshes_itself_when_a_new_draft_arrives(browser: Any, served: Served) -> None:
    page = await _page(browser, served, "wang.approver")
    assert "暂无待审消息" in await page.locator("#queue").inner_text()
    draft_id = await served.world.ingest(level="red")
    # console.js polls every 10 s; the draft appears without a reload.
    await page.locator(f"#queue a[href='/drafts/{draft_id}']").wait_for(timeout=25_000)
    assert "自动刷新" in await page.locator("#refreshed").inner_text()
    await page.context.close()


async def test_a_user_cannot_approve_a_draft_they_edited(browser: Any, served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    page = await _page(browser, served, "sun.both")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    await page.locator("details.edit summary").first.click()
    await page.locator("details.edit textarea").first.fill("暴雨橙色预警：远离河道、低洼地和地下通道，山区防范山洪。")
    await page.locator("details.edit button").first.click()
    assert "须经专家审核" in await page.locator(".flash").inner_text()
    await served.world.service.actions.review(served.world.users["chen.expert"], draft_id, origin="test")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    button = page.locator("button:has-text('批准发送')")
    assert await button.is_disabled()
    # The server refuses too, even when the page is bypassed.
    await button.evaluate("b => b.disabled = false")
    await button.click()
    assert "双人原则" in await page.locator(".flash.error").inner_text()
    assert await _state(served, draft_id) == "pending"
    await page.context.close()


async def test_an_observer_cannot_approve(browser: Any, served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    page = await _page(browser, served, "liu.observer")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    assert await page.locator("button:has-text('批准发送')").count() == 0
    status = await page.evaluate(
        """async (id) => {
            const csrf = document.querySelector("input[name=csrf]").value;
            const r = await fetch(`/drafts/${id}/approve`, {method: "POST", body: new URLSearchParams({csrf})});
            return r.status;
        }""", draft_id)
    assert status == 403
    assert await _state(served, draft_id) == "pending"
    await page.context.close()


async def test_a_form_without_the_csrf_token_is_refused(browser: Any, served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    page = await _page(browser, served, "wang.approver")
    await page.goto(f"{served.base}/drafts/{draft_id}")
    await page.evaluate("document.querySelector(\"form[action$='/approve'] input[name=csrf]\").remove()")
    async with page.expect_response(f"**/drafts/{draft_id}/approve") as info:
        await page.click("text=批准发送")
    assert (await info.value).status == 403
    assert "CSRF" in await page.locator("body").inner_text()
    assert await _state(served, draft_id) == "pending"
    await page.context.close()
