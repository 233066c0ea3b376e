"""Printable notices: produced per approved message through the outbox, and a clean A4 page in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from alerts.channels.notice import load_published, render_notice
from tests.channels.notices_support import (
    approve_sample,
    delivery_rows,
    import_organisations,
    make_service,
    message_ids,
)

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
A4_PX = (794, 1123)  # 210 × 297 mm at 96 px per inch


async def test_notice_contacts_get_a_printable_page_through_the_outbox(config_dir: Path, database_url: str) -> None:
    service = await make_service(config_dir, database_url)
    try:
        await import_organisations(service)
        draft_id = await approve_sample(service)
        result = await service.worker.drain()
        assert result.failed == 0
        notices = await delivery_rows(service, "notice")
        # The school (米山镇) and the village (三甲镇) boards, each for its own audience's message.
        assert len(notices) == 2 and all(d.state == "sent" and d.provider_status == "ready" for d in notices)
        school_message = (await message_ids(service, draft_id, audience="schools", channel="notice"))[0]
        page = (service.settings.var_dir / "notices" / f"message-{school_message}.html").read_text(encoding="utf-8")
        assert "暴雨橙色预警" in page and "各学校、幼儿园：" in page
        assert "@page { size: A4" in page and service.settings.service.name in page
        assert "演练" not in page
    finally:
        await service.close()


async def test_the_notice_names_title_issuer_time_and_marks_drills(config_dir: Path, database_url: str) -> None:
    service = await make_service(config_dir, database_url)
    try:
        draft_id = await approve_sample(service, exercise=True)
        [mid] = await message_ids(service, draft_id, audience="schools", channel="notice")
        async with service.db.read() as conn:
            published = await load_published(conn, mid)
        assert published is not None and published.exercise
        html = render_notice(published, issuer="高平市科协", nonce="n0nce")
        assert "【演练】暴雨橙色预警" in html and "演练 · 非真实预警" in html
        assert "高平市科协" in html and "2026年7月12日 05:40" in html
        assert '<style nonce="n0nce">' in html
        # Alert text is data: markup in it is escaped, never interpreted.
        hostile = published.__class__(**{**published.__dict__, "text": "<script>alert(1)</script>"})
        assert "<script>alert(1)" not in render_notice(hostile, issuer="x")
    finally:
        await service.close()


@pytest.mark.parametrize("exercise", [False, True], ids=["warning", "drill"])
async def test_printable_notice_renders_to_one_clean_a4_page_in_chromium(
        config_dir: Path, tmp_path: Path, exercise: bool) -> None:
    if not CHROMIUM.exists():
        pytest.skip("the browser test needs /usr/bin/chromium, which is not installed here")
    from playwright.async_api import async_playwright

    service = await make_service(config_dir, f"sqlite:///{tmp_path / 'notice.db'}")
    try:
        draft_id = await approve_sample(service, exercise=exercise)
        [mid] = await message_ids(service, draft_id, audience="schools", channel="notice")
        async with service.db.read() as conn:
            published = await load_published(conn, mid)
        assert published is not None
        html = render_notice(published, issuer=service.settings.service.name)
    finally:
        await service.close()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = await browser.new_page(viewport={"width": A4_PX[0], "height": A4_PX[1]})
            await page.set_content(html, wait_until="load")
            sheet = await page.evaluate("""() => {
                const s = document.querySelector('.sheet').getBoundingClientRect();
                const body = document.querySelector('.body');
                return {width: s.width, height: s.height, scrollW: document.documentElement.scrollWidth,
                        overflow: body.scrollHeight > body.clientHeight + 1,
                        footerBottom: document.querySelector('footer').getBoundingClientRect().bottom};
            }""")
            # The sheet is exactly A4 and everything, the footer too, fits inside it.
            assert round(sheet["width"]) == A4_PX[0] and round(sheet["height"]) == A4_PX[1]
            assert sheet["scrollW"] <= A4_PX[0] and not sheet["overflow"]
            assert sheet["footerBottom"] <= sheet["height"]
            name = "drill" if exercise else "warning"
            png = tmp_path / f"notice-{name}.png"
            await page.locator(".sheet").screenshot(path=str(png))
            shutil.copy(png, Path("/tmp") / png.name)  # kept for a person to look at
            assert png.stat().st_size > 20_000  # a rendered page with text, not a blank
            visible = await page.inner_text(".sheet")
            assert ("演练" in visible) is exercise and "暴雨橙色预警" in visible
            await page.emulate_media(media="print")
            pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
        finally:
            await browser.close()
    (Path("/tmp") / f"notice-{name}.pdf").write_bytes(pdf)
    pages = re.findall(rb"/Type\s*/Page[^s]", pdf)
    assert len(pages) == 1, "the notice must print on a single sheet"
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    assert box is not None
    width, height = float(box.group(1)), float(box.group(2))
    assert abs(width - 595.3) < 2 and abs(height - 841.9) < 2  # A4 in points


async def test_a_notice_longer_than_one_sheet_flows_onto_a_second_page_instead_of_being_cut(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("the browser test needs /usr/bin/chromium, which is not installed here")
    from datetime import UTC, datetime

    from playwright.async_api import async_playwright

    from alerts.channels.notice import Published

    paragraphs = [f"第{i}条：雨天远离河道、沟渠和积水处，不蹚水过路，山区注意山洪和滑坡的前兆。" for i in range(1, 41)]
    p = Published(message_id=9, draft_id=1, text="\n".join(paragraphs), audience="villages", channel="notice",
                  language="zh-CN", areas=[], kind="warning", state="sent", hazard="rainstorm", level="red",
                  exercise=False, decided_at=datetime(2026, 7, 12, 0, 0, tzinfo=UTC),
                  created_at=datetime(2026, 7, 12, 0, 0, tzinfo=UTC), expires_at=None, alert=None, alert_scope=None)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = await browser.new_page(viewport={"width": A4_PX[0], "height": A4_PX[1]})
            await page.set_content(render_notice(p, issuer="高平市应急科普预警服务"), wait_until="load")
            await page.emulate_media(media="print")
            pdf = await page.pdf(prefer_css_page_size=True, print_background=True)
            # Every paragraph is laid out inside the sheet: nothing is clipped by the page box.
            clipped = await page.evaluate("""() => {
                const sheet = document.querySelector('.sheet').getBoundingClientRect();
                return [...document.querySelectorAll('.body p, footer')].some(
                    el => el.getBoundingClientRect().bottom > sheet.bottom + 1);
            }""")
        finally:
            await browser.close()
    assert not clipped
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 2
