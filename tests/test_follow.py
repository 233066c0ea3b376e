"""A warning's whole life, from each push to the SMS every resident gets (SQLite and PostgreSQL).

The demo residents live in 米山镇 (two, one reading English), 三甲镇, 神农镇, 北城街道 and 北诗镇.
Every change of a chain reaches whom the chain reached and who is still inside, in the stage's own
words; the newly inside get the warning as news; the end reaches everyone the chain reached.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.store import problems as problem_store
from alerts.store.tables import alerts, drafts
from tests.chain_support import (
    BEICHENG,
    BEISHI,
    MISHAN,
    MISHAN_EN,
    SANJIA,
    SHENNONG,
    doc,
    push,
    step,
)
from tests.workflow.support import World, build_world

FIRST = "14058141600000_20260712053000"


@pytest.fixture
async def world(config_dir: Path, database_url: str) -> AsyncIterator[World]:
    w = await build_world(config_dir, database_url, tokens=True)
    try:
        yield w
    finally:
        await w.service.close()


async def test_every_stage_of_a_chain_reaches_the_right_people_in_its_own_words(world: World) -> None:
    new = await step(world, doc(FIRST))
    assert new.stage == "new" and set(new.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    # Hazard, level and area first, then the action; source and issue time close the text.
    assert new.sms[MISHAN].startswith("暴雨橙色预警（米山镇、三甲镇、神农镇）：")
    assert "高平市气象台于12日5时30分发布" in new.sms[MISHAN]
    assert "rainstorm" in new.sms[MISHAN_EN].lower() and "12/7 05:30" in new.sms[MISHAN_EN]

    raised = await step(world, doc("R1", level="red", msg_type="Update", follows=FIRST, sent="2026-07-12 06:10:00+08:00",
                                   headline="高平市气象台将暴雨橙色预警信号升级为暴雨红色预警信号[Ⅰ级/特别严重]"))
    assert raised.stage == "raise" and set(raised.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    assert raised.sms[SANJIA].startswith("暴雨预警升级为红色（米山镇、三甲镇、神农镇），此前为橙色。")
    assert "12日6时10分升级，有效至12日17时30分" in raised.sms[SANJIA] and "发布暴雨" not in raised.sms[SANJIA]

    lowered = await step(world, doc("L1", level="orange", msg_type="Update", follows="R1",
                                    sent="2026-07-12 08:00:00+08:00",
                                    headline="高平市气象台将暴雨红色预警信号降级为暴雨橙色预警信号[Ⅱ级/严重]"))
    # Before issue 12 this reached nobody ("already received the same or a higher level").
    assert lowered.stage == "lower" and set(lowered.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    assert lowered.sms[SHENNONG].startswith("暴雨预警降级为橙色（米山镇、三甲镇、神农镇），此前为红色。")

    extended = await step(world, doc("E1", level="orange", msg_type="Update", follows="L1",
                                     sent="2026-07-12 09:00:00+08:00", expires="2026-07-12 21:00:00+08:00",
                                     headline="高平市气象台继续发布暴雨橙色预警信号[Ⅱ级/严重]"))
    assert extended.stage == "extend" and set(extended.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    assert extended.sms[MISHAN].startswith("暴雨橙色预警继续生效（米山镇、三甲镇、神农镇）。")
    assert "12日9时继续发布，有效至12日21时" in extended.sms[MISHAN]

    narrowed = await step(world, doc("N1", msg_type="Update", follows="E1", towns=("米山镇",),
                                     sent="2026-07-12 10:00:00+08:00"))
    assert narrowed.stage == "narrow" and set(narrowed.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    assert narrowed.sms[MISHAN].startswith("暴雨橙色预警范围缩小，米山镇仍在预警中。"), "those still inside"
    # Those the narrowed area leaves out hear that the warning is lifted for their townships.
    assert narrowed.sms[SANJIA].startswith("暴雨橙色预警已解除（三甲镇、神农镇）。")
    assert narrowed.sms[SANJIA].endswith("高平市气象台于12日10时解除。")

    widened = await step(world, doc("W1", msg_type="Update", follows="N1", towns=("米山镇", "北城街道"),
                                    sent="2026-07-12 10:30:00+08:00"))
    assert widened.stage == "widen" and set(widened.sms) == {BEICHENG}, "news only to the newly inside"
    assert widened.sms[BEICHENG].startswith("暴雨橙色预警（北城街道、米山镇）：")
    assert "高平市气象台于12日10时30分发布" in widened.sms[BEICHENG]

    ended = await step(world, doc("C1", msg_type="Cancel", follows="W1", towns=("米山镇", "北城街道"),
                                  sent="2026-07-12 11:30:00+08:00", headline="高平市气象台解除暴雨橙色预警信号"),
                      "wang.approver", "zhao.approver")  # an all-clear takes the normal path: two approvers
    # Everyone the chain ever reached, also those the narrowed area left out; never 北诗镇.
    assert ended.stage == "end" and set(ended.sms) == {MISHAN, SANJIA, SHENNONG, BEICHENG, MISHAN_EN}
    assert ended.sms[SANJIA].startswith("暴雨橙色预警已解除（北城街道、米山镇、三甲镇、神农镇）。")
    assert ended.sms[SANJIA].endswith("高平市气象台于12日11时30分解除。")
    assert BEISHI not in ended.sms
    async with world.service.db.read() as conn:
        stages = [r.stage for r in await conn.execute(select(drafts.c.stage).order_by(drafts.c.id))]
        states = {r.identifier: r.state for r in await conn.execute(select(alerts.c.identifier, alerts.c.state))}
    assert stages == ["new", "raise", "lower", "extend", "narrow", "widen", "end"]
    assert states["C1"] == "ended" and states[FIRST] == "superseded"


async def test_a_warning_withdrawn_because_it_was_wrong_reaches_everyone_it_reached_with_撤回(world: World) -> None:
    first = await step(world, doc(FIRST, level="yellow"), "wang.approver", "zhao.approver")
    assert set(first.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    withdrawn = await step(world, doc("X1", level="yellow", msg_type="Cancel", follows=FIRST,
                                      sent="2026-07-12 05:50:00+08:00",
                                      headline="高平市气象台撤回暴雨黄色预警信号（误发）"), "wang.approver", "zhao.approver")
    assert withdrawn.stage == "withdraw" and set(withdrawn.sms) == set(first.sms)
    assert "系误发" in withdrawn.sms[SANJIA] and "撤回" in withdrawn.sms[SANJIA] and "解除" not in withdrawn.sms[SANJIA]


async def test_a_change_before_anyone_was_reached_goes_out_as_the_warning_itself(world: World) -> None:
    intake = await push(world, doc(FIRST))
    raised = await step(world, doc("R1", level="red", msg_type="Update", follows=FIRST,
                                   sent="2026-07-12 05:40:00+08:00"))
    async with world.service.db.read() as conn:
        first_state = (await conn.execute(select(drafts.c.state).where(drafts.c.id == intake.drafts.created[0]))).scalar()
    assert first_state == "superseded"
    assert raised.stage == "raise" and set(raised.sms) == {MISHAN, SANJIA, SHENNONG, MISHAN_EN}
    assert raised.sms[MISHAN].startswith("暴雨红色预警（"), "nobody heard orange"
    assert "高平市气象台于12日5时40分发布" in raised.sms[MISHAN]


async def test_outside_free_text_never_reaches_a_resident_on_the_normal_or_the_expedited_path(world: World) -> None:
    hostile = dict(sender_name="假冒气象台请拨13912345678", instruction="详情见 http://evil.example.cn 或致电13912345678",
                   headline="\u202e高平市气象台发布暴雨预警\u200b请点击链接 http://evil.example.cn")
    expedited = await step(world, doc(FIRST, level="orange", **hostile))  # orange: one approver
    normal = await step(world, doc("Y1", level="yellow", towns=("北城街道", "北诗镇"), **hostile),
                        "wang.approver", "zhao.approver")
    for got in (expedited, normal):
        assert got.sms
        for text in got.sms.values():
            assert "139" not in text and "http" not in text and "evil" not in text and "假冒" not in text
            assert "高平市气象台" in text
    async with world.service.db.read() as conn:
        headlines = [r.headline for r in await conn.execute(select(alerts.c.headline))]
    assert headlines and all("\u202e" not in h and "\u200b" not in h for h in headlines), "cleaned at intake"


async def test_an_unknown_township_code_falls_back_to_the_city_and_is_shown_to_operators(world: World) -> None:
    got = await step(world, doc(FIRST, geocodes=("140581299000",), towns=("某新乡镇",)))
    assert set(got.sms) == {MISHAN, SANJIA, SHENNONG, BEICHENG, BEISHI, MISHAN_EN}
    assert got.sms[BEISHI].startswith("暴雨橙色预警（高平市全境）：")
    async with world.service.db.read() as conn:
        problem = await problem_store.get(conn, "area:140581299000:unknown")
    assert problem is not None and problem.resolved_at is None and "140581299000" in problem.what
    assert "areas.yaml" in problem.todo and "全境" in problem.why


async def test_yonglu_routes_to_its_own_township(world: World) -> None:
    plan = world.service.route(world.service.hazards.normalise(
        __import__("alerts.feeds.cap", fromlist=["parse_alert"]).parse_alert(doc(FIRST, towns=("永禄乡",)))))
    assert plan.areas == ["140581204"] and plan.unknown_areas == [] and plan.drafts
    intake = await push(world, doc(FIRST, towns=("永禄乡",)))
    async with world.service.db.read() as conn:
        record = await __import__("alerts.store.drafts", fromlist=["get"]).get(conn, intake.drafts.created[0])
    sms = next(m for m in record.messages if m.channel == "sms" and m.language == "zh-CN")
    assert "（永禄乡）" in sms.text


async def test_a_warning_that_reaches_nobody_is_an_operator_problem(world: World) -> None:
    # 永禄乡 has no registered residents in the demo list: the approved warning reaches nobody.
    intake = await push(world, doc(FIRST, towns=("永禄乡",)))
    draft_id = intake.drafts.created[0]
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    # A warning nobody can place (no codes, a description naming no township) yields no draft at all.
    lost = await push(world, doc("LOST1", towns=("某地",), geocodes=()))
    assert not lost.drafts.created
    async with world.service.db.read() as conn:
        nobody = await problem_store.get(conn, f"draft:{draft_id}:no_recipients")
        unplaced = await problem_store.get(conn, f"alert:{lost.alert_id}:no_draft")
        listed = await problem_store.open_problems(conn)
    assert nobody is not None and nobody.severity == "critical" and nobody.todo
    assert unplaced is not None and "无法确定预警区域" in unplaced.why
    assert {p.key for p in listed} >= {nobody.key, unplaced.key}
