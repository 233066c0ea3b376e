"""到期自动解除: a warning past its expiry without an all-clear is followed up only where its source's
convention says expiry ends it (chains.yaml expiry_ends_warning)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alerts.scheduler import Background
from alerts.store import drafts as draft_store
from tests.chain_support import MISHAN, MISHAN_EN, SANJIA, SHENNONG, approve, doc, step
from tests.workflow.support import World, build_world


@pytest.fixture
async def world(config_dir: Path, database_url: str) -> AsyncIterator[World]:
    w = await build_world(config_dir, database_url)
    try:
        yield w
    finally:
        await w.service.close()


async def expire(world: World) -> list[int]:
    """Past the warning's expiry (17:30), the scheduler's sweep runs; the pending drafts afterwards."""
    world.clock.advance(hours=13)
    await Background(world.service).sweep_expiry()
    async with world.service.db.read() as conn:
        return [d.id for d in await draft_store.by_state(conn, ("pending",))]


async def test_a_pushed_warning_that_expires_gets_a_到期自动解除_follow_up_for_whom_it_reached(world: World) -> None:
    await step(world, doc("E1"))  # pushed by push:feed.source, whose warnings end at expiry
    [follow_up] = await expire(world)
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, follow_up)
    assert record is not None and record.row.stage == "expire" and record.row.kind == "all_clear"
    got = await approve(world, follow_up, "wang.approver", "zhao.approver")
    assert set(got.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    assert got.sms[MISHAN].startswith("暴雨橙色预警（米山镇、三甲镇、神农镇）已到期自动解除")
    assert "12日5时30分发布" in got.sms[MISHAN]


async def test_a_source_that_ends_warnings_explicitly_gets_no_follow_up(world: World) -> None:
    await step(world, doc("E1"), source="county-dropbox")
    assert await expire(world) == []


async def test_nothing_follows_an_expired_warning_that_reached_nobody(world: World) -> None:
    from tests.chain_support import push

    await push(world, doc("E1"))  # never approved
    assert await expire(world) == []
