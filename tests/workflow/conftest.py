"""Fixtures for workflow tests: a World (real Service, real database, ManualClock, users)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.workflow.support import World, build_world


@pytest.fixture
async def world(config_dir: Path, database_url: str) -> AsyncIterator[World]:
    w = await build_world(config_dir, database_url)
    try:
        yield w
    finally:
        await w.service.close()
