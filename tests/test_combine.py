"""Several warnings at once: three overlapping chains within minutes become one combined offer; each
resident gets one SMS; approving it covers every chain; a red is never combined (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.store import drafts as draft_store
from alerts.store.tables import drafts
from tests.chain_support import BEICHENG, BEISHI, MISHAN, MISHAN_EN, SANJIA, SHENNONG, approve, doc, push
from tests.workflow.support import World, build_world


@pytest.fixture
async def world(config_dir: Path, database_url: str) -> AsyncIterator[World]:
    w = await build_world(config_dir, database_url)
    try:
        yield w
    finally:
        await w.service.close()


async def state(world: World, draft_id: int) -> str:
    async with world.service.db.read() as conn:
        return str((await conn.execute(select(drafts.c.state).where(drafts.c.id == draft_id))).scalar())


async def three_chains(world: World) -> tuple[list[int], int]:
    """A July afternoon: rainstorm orange, geological-hazard yellow, lightning yellow within three minutes."""
    rain = await push(world, doc("RAIN1", level="orange", towns=("米山镇", "三甲镇", "神农镇")))
    world.clock.advance(minutes=1)
    geo = await push(world, doc("GEO1", hazard="geological_hazard", level="yellow", towns=("三甲镇", "神农镇"),
                                sent="2026-07-12 05:31:00+08:00"))
    world.clock.advance(minutes=1)
    thunder = await push(world, doc("THUNDER1", hazard="lightning", level="yellow", towns=("神农镇", "北城街道"),
                                    sent="2026-07-12 05:32:00+08:00"))
    own = [rain.drafts.created[0], *geo.drafts.superseded, *thunder.drafts.superseded]
    [combined] = thunder.drafts.created
    return own, combined


async def test_three_overlapping_chains_are_offered_as_one_and_each_resident_gets_one_sms(world: World) -> None:
    own, combined = await three_chains(world)
    async with world.service.db.read() as conn:
        pending = [d.id for d in await draft_store.by_state(conn, ("pending",))]
    assert pending == [combined], "the approver sees one combined message"
    got = await approve(world, combined)  # orange, reviewed texts only: the expedited path
    assert set(got.sms) == {MISHAN, MISHAN_EN, SANJIA, SHENNONG, BEICHENG} and BEISHI not in got.sms
    # 米山镇 is under the rainstorm only, 北城街道 under lightning only: their own warning text.
    assert got.sms[MISHAN].startswith("暴雨橙色预警（") and "高平市气象台于12日5时30分发布" in got.sms[MISHAN]
    assert got.sms[BEICHENG].startswith("雷电黄色预警（") and "高平市气象台于12日5时32分发布" in got.sms[BEICHENG]
    # 神农镇 is under all three: one SMS, highest level first, each hazard's one-line advice, issue time.
    shennong = got.sms[SHENNONG]
    assert shennong.startswith("神农镇同时有3项预警：暴雨橙色预警（远离河道，危房人员转移）；")
    assert shennong.index("暴雨橙色") < shennong.index("地质灾害气象风险黄色") and "雷电黄色预警" in shennong
    assert shennong.endswith("高平市气象台12日5时32分前发布。")
    assert got.sms[SANJIA].startswith("三甲镇同时有2项预警：暴雨橙色预警") and "雷电" not in got.sms[SANJIA]
    assert len("【高平应急科普】" + shennong) <= 134
    for draft_id in own:
        assert await state(world, draft_id) == "superseded"

    # Approving it covered each chain: the lightning all-clear reaches whom the lightning warning reached.
    ended = await push(world, doc("THUNDER2", hazard="lightning", level="yellow", msg_type="Cancel", follows="THUNDER1",
                                  towns=("神农镇", "北城街道"), sent="2026-07-12 07:00:00+08:00",
                                  headline="高平市气象台解除雷电黄色预警信号"))
    clear = await approve(world, ended.drafts.created[0], "wang.approver", "zhao.approver")
    assert set(clear.sms) == {SHENNONG, BEICHENG} and "解除" in clear.sms[SHENNONG]


async def test_a_change_of_one_chain_takes_it_out_of_the_combined_offer_and_keeps_the_others(world: World) -> None:
    _own, combined = await three_chains(world)
    raised = await push(world, doc("RAIN2", level="red", msg_type="Update", follows="RAIN1",
                                   sent="2026-07-12 05:34:00+08:00"))
    assert await state(world, combined) == "superseded"
    async with world.service.db.read() as conn:
        pending = await draft_store.by_state(conn, ("pending",))
    # The red rainstorm stands alone (never combined, never delayed); lightning and geology are offered again.
    red = [d for d in pending if d.level == "red"]
    assert [d.id for d in red] == raised.drafts.created and red[0].stage == "raise"
    rest = [d for d in pending if d.level != "red"]
    assert len(rest) == 1 and rest[0].group_key.startswith("combined:")
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, rest[0].id)
    assert record is not None
    texts = " ".join(m.text for m in record.messages if m.channel == "sms")
    assert "雷电" in texts and "地质灾害" in texts and "暴雨" not in texts


async def test_a_red_warning_is_never_combined(world: World) -> None:
    await push(world, doc("GEO1", hazard="geological_hazard", level="yellow", towns=("三甲镇", "神农镇")))
    red = await push(world, doc("RAIN1", level="red"))
    assert red.drafts.created and not red.drafts.superseded
    async with world.service.db.read() as conn:
        pending = await draft_store.by_state(conn, ("pending",))
    assert sorted(d.level for d in pending) == ["red", "yellow"]
    assert not any(d.group_key.startswith("combined:") for d in pending)


async def test_warnings_further_apart_than_the_window_are_not_combined(world: World) -> None:
    await push(world, doc("RAIN1", level="orange"))
    world.clock.advance(minutes=4)
    geo = await push(world, doc("GEO1", hazard="geological_hazard", level="yellow", towns=("三甲镇",),
                                sent="2026-07-12 05:34:00+08:00"))
    assert not geo.drafts.superseded and geo.drafts.created


async def test_rejecting_the_combined_offer_gives_each_warning_back_to_the_approver(world: World) -> None:
    own, combined = await three_chains(world)
    await world.service.actions.reject(world.users["wang.approver"], combined, "分开发送更清楚", origin="test")
    async with world.service.db.read() as conn:
        pending = await draft_store.by_state(conn, ("pending",))
    assert await state(world, combined) == "rejected"
    assert len(pending) == 3, "each chain's own warning is pending again"
    assert {d.group_key for d in pending} == {(await _group(world, d)) for d in own}
    got = await approve(world, pending[0].id)
    assert got.sms, "a re-offered warning is sent like any other"


async def _group(world: World, draft_id: int) -> str:
    async with world.service.db.read() as conn:
        return str((await conn.execute(select(drafts.c.group_key).where(drafts.c.id == draft_id))).scalar())
async def test_two_chains_of_one_hazard_are_not_combined_and_a_third_hazard_joins_the_first(world: World) -> None:
    # combine.offer skips a second chain of a hazard it already holds before reading its messages;
    # what is offered must be exactly what it was when every pending draft was read.
    first = await push(world, doc("RAIN1", level="orange", towns=("米山镇", "三甲镇")))
    world.clock.advance(minutes=1)
    second = await push(world, doc("RAINB", level="orange", towns=("三甲镇",), sent="2026-07-12 05:31:00+08:00"))
    assert second.drafts.created and not second.drafts.superseded
    world.clock.advance(minutes=1)
    geo = await push(world, doc("GEO1", hazard="geological_hazard", level="yellow", towns=("三甲镇",),
                                sent="2026-07-12 05:32:00+08:00"))
    [combined] = geo.drafts.created
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, combined)
    assert record is not None and record.row.group_key.startswith("combined:")
    # One rainstorm chain joined the geological warning; the other rainstorm chain stays alone.
    states = sorted([await state(world, first.drafts.created[0]), await state(world, second.drafts.created[0])])
    assert states == ["pending", "superseded"]
