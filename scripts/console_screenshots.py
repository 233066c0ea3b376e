"""Phone-size (390×844) screenshots of the duty console for docs/screenshots/, taken from a throwaway
service on 127.0.0.1 with the test world's users and demo residents. Not part of the test suite.

    .venv/bin/python scripts/console_screenshots.py [--out docs/screenshots] [--browser /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.web.conftest import serve  # noqa: E402
from tests.web.test_draft_page import ingest_citywide_red  # noqa: E402
from tests.workflow.support import PASSWORDS, build_world  # noqa: E402

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True, "has_touch": True}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


async def main(out: Path, browser_path: str) -> None:
    import shutil

    from playwright.async_api import async_playwright

    work = Path(tempfile.mkdtemp(prefix="alerts-shots-"))
    config = work / "config"
    shutil.copytree(ROOT / "config", config)
    service = config / "service.yaml"  # paths back at the real templates, the database in the work dir
    text = service.read_text(encoding="utf-8").replace("templates_dir: ../templates", f"templates_dir: {ROOT / 'templates'}")
    service.write_text(text.replace("var_dir: ../var", f"var_dir: {work / 'var'}"), encoding="utf-8")
    feeds = config / "feeds.yaml"
    feeds.write_text(feeds.read_text(encoding="utf-8").replace("path: ../alerts/demo/samples",
                                                               f"path: {ROOT / 'alerts' / 'demo' / 'samples'}"),
                     encoding="utf-8")
    world = await build_world(config, f"sqlite:///{work / 'alerts.db'}")
    served, runner = await serve(world)
    try:
        red = await ingest_citywide_red(served)
        world.clock.advance(minutes=5)
        orange = await world.ingest(level="orange", identifier="14058141600000_20260712060000")
        await world.service.actions.approve(world.users["wang.approver"], orange, origin="screenshots")
        await world.service.worker.drain()
        out.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=browser_path, args=ARGS, headless=True)
            ctx = await browser.new_context(locale="zh-CN", **PHONE)
            page = await ctx.new_page()
            await page.goto(f"{served.base}/login")
            await page.fill("input[name=name]", "wang.approver")
            await page.fill("input[name=password]", PASSWORDS["wang.approver"])
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{served.base}/")
            await page.goto(f"{served.base}/drafts/{red}")
            await page.screenshot(path=str(out / "draft-red-top.png"))
            await page.locator("#decide").screenshot(path=str(out / "draft-red-decide.png"))
            await page.goto(f"{served.base}/reports/drafts/{orange}")
            await page.screenshot(path=str(out / "report.png"), full_page=True)
            await page.goto(f"{served.base}/templates")
            await page.screenshot(path=str(out / "templates.png"))
            await page.goto(f"{served.base}/lookup")
            await page.fill("input[name=phone]", "13800138000")
            await page.click("form.lookup button[type=submit]")
            await page.wait_for_selector("#results")
            await page.screenshot(path=str(out / "lookup.png"), full_page=True)
            await browser.close()
    finally:
        await runner.cleanup()
        await world.service.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/screenshots")
    parser.add_argument("--browser", default=os.environ.get("ALERTS_BROWSER", "/usr/bin/chromium"))
    ns = parser.parse_args()
    asyncio.run(main(ns.out, ns.browser))
