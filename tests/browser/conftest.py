"""Fixtures for browser tests: headless Chromium at /usr/bin/chromium driven by Playwright, never downloaded."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# ALERTS_BROWSER (as the rules and CI name it) or ALERTS_CHROMIUM; Debian's chromium by default.
CHROMIUM = Path(os.environ.get("ALERTS_BROWSER") or os.environ.get("ALERTS_CHROMIUM") or "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (CI installs it; set ALERTS_BROWSER to use another)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: ALERTS_SCREENSHOT_DIR if set (to look at them), else the test's tmp dir."""
    target = Path(os.environ.get("ALERTS_SCREENSHOT_DIR") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target
