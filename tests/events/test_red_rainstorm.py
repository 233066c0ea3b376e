"""A red rainstorm warning at work: an event opens, every department gets its tasks, 叫应 runs for the
township and village heads of the area, an SMS reply "收到" stops escalation while silence escalates
(time compressed with the ManualClock), and the event page and its JSON show who acknowledged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from alerts.events import store
from alerts.replies import handle_reply
from alerts.store import problems as problem_store
from alerts.store.tables import ack_attempts
from alerts.web.app import make_app
from tests.events.support import PUBLIC, events_world, sent, sent_to
from tests.web.conftest import free_port, login
from tests.workflow.support import World, sample_alert

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"  # signs the Twilio webhook; SMS stay on the log channel
DONGZHOU_SECRETARY = "+8613900001011"
MISHAN_HEAD, MISHAN_DEPUTY, MISHAN_DUTY = "+8613900001001", "+8613900001002", "+8613900001009"
SANJIA_HEAD = "+8613900002001"
SHENNONG_HEAD = "+8613900003001"
BEICHENG_HEAD = "+8613900004001"  # a township the warning does not cover


class Served:
    def __init__(self, world: World, base: str, http: aiohttp.ClientSession):
        self.world, self.base, self.http = world, base, http
        self.replies = 0

    async def sms_reply(self, phone: str, body: str) -> str:
        self.replies += 1  # each inbound message has its own MessageSid; a repeated one is a replay
        form = {"From": phone, "Body": body, "MessageSid": f"SM{self.replies:032x}"}
        path = "/hooks/twilio/inbound"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path, form)
        async with self.http.post(self.base + path, data=form, headers={"X-Twilio-Signature": signature}) as r:
            assert r.status == 200
            return await r.text()


@pytest.fixture
async def served(config_dir: Path, database_url: str) -> AsyncIterator[Served]:
    world = await events_world(config_dir, database_url, tokens=True,
                               env={"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN})
    runner = web.AppRunner(make_app(world.service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Served(world, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
        await world.service.close()


async def _steps(world: World, phone: str) -> list[str]:
    async with world.service.db.read() as conn:
        return [r.step_kind for r in await conn.execute(
            select(ack_attempts).where(ack_attempts.c.phone == phone).order_by(ack_attempts.c.id))]


async def _event(served: Served, event_id: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {served.world.tokens['liu.observer']}"}
    async with served.http.get(f"{served.base}/api/v1/events/{event_id}", headers=headers) as r:
        assert r.status == 200
        return dict(await r.json())


def _unit(view: dict[str, Any], name: str) -> dict[str, Any]:
    return next(u for t in view["acknowledgements"] for u in t["units"] if u["unit"] == name)


async def test_a_red_rainstorm_warning_runs_tasks_and_callout_until_acknowledged(served: Served) -> None:
    world = served.world
    intake = await world.service.receive(sample_alert(level="red"), source="test")
    assert intake.drafts.created and intake.event_id is not None
    event_id = intake.event_id

    async with world.service.db.read() as conn:
        event = await store.get_event(conn, event_id)
        tasks = await store.tasks_of(conn, event_id)
    assert (event.state, event.hazard, event.level) == ("open", "rainstorm", "red")
    assert sorted(event.areas) == ["140581101", "140581102", "140581103"]
    assert {t.department for t in tasks} == {"yjj", "kx", "qxj", "rmt", "xcb", "fl", "jyj", "rsj"}

    # First round: each department's night-shift officer (05:35 local) and every unit's first person.
    report = await world.service.events.run_once()
    assert report.reached == report.attempts
    [school_task] = sent_to(world, "+8613800000402")
    assert "市教育局" in school_task and "本平台不代发停课通知" in school_task and "暴雨红色预警" in school_task
    assert not sent_to(world, "+8613800000401"), "the day shift is off duty at 05:35"
    assert any("户外作业" in t for t in sent_to(world, "+8613800000302"))
    for phone in (DONGZHOU_SECRETARY, MISHAN_HEAD, SANJIA_HEAD, SHENNONG_HEAD):
        [callout] = sent_to(world, phone)
        assert callout.startswith("【高平应急科普】叫应提醒：") and "回复“收到”" in callout
    assert not sent_to(world, MISHAN_DEPUTY), "rank 2 is asked only when rank 1 stays silent"
    assert not sent_to(world, BEICHENG_HEAD), "北城街道 is not in the warned area"

    # The village secretary answers through the provider's webhook; the township head of 三甲 by "1".
    answer = await served.sms_reply(DONGZHOU_SECRETARY, "收到")
    assert "已确认您收到" in answer
    async with world.service.db.write() as conn:
        reply = await handle_reply(conn, phone=SANJIA_HEAD, body="1", provider="aliyun", at=world.clock.now(),
                                   service_name="高平应急科普")
    assert reply.kind == "acknowledged"

    # Ten silent minutes later: the others are called again (no voice channel yet, so by SMS).
    world.clock.advance(minutes=10)
    await world.service.events.run_once()
    assert len(sent_to(world, DONGZHOU_SECRETARY)) == 1 and len(sent_to(world, SANJIA_HEAD)) == 1
    assert await _steps(world, MISHAN_HEAD) == ["first", "repeat"]
    assert await _steps(world, SHENNONG_HEAD) == ["first", "repeat"]

    # Twenty: the next person on 米山镇's roster; thirty: the township duty office.
    world.clock.advance(minutes=10)
    await world.service.events.run_once()
    assert await _steps(world, MISHAN_DEPUTY) == ["next"]
    world.clock.advance(minutes=10)
    await world.service.events.run_once()
    assert await _steps(world, MISHAN_DUTY) == ["duty_office"] * len(await _steps(world, MISHAN_DUTY))
    assert await _steps(world, MISHAN_DUTY), "米山镇's duty office hears of every silent unit of the township"
    # The deputy answers: escalation for 米山镇 stops; 神农镇 (no deputy, no duty office) stays silent.
    assert (await served.sms_reply(MISHAN_DEPUTY, "收到")).count("已确认") == 1
    world.clock.advance(minutes=10)
    await world.service.events.run_once()
    calls_to_mishan_head = len(sent_to(world, MISHAN_HEAD))
    world.clock.advance(minutes=30)
    await world.service.events.run_once()
    assert len(sent_to(world, MISHAN_HEAD)) == calls_to_mishan_head == 2

    async with world.service.db.read() as conn:
        silent = [p for p in await problem_store.open_problems(conn) if p.kind == "ack_silent"]
    assert any("神农镇" in p.what and p.severity == "critical" for p in silent)
    assert not any("东周村" in p.what for p in silent)

    # The JSON says who acknowledged, when and how, per township and village, and who is silent.
    view = await _event(served, event_id)
    dongzhou = _unit(view, "米山镇东周村")
    assert dongzhou["acknowledged"]["via"] == "sms" and "东周村书记" in dongzhou["acknowledged"]["by"]
    mishan = _unit(view, "米山镇")
    assert "米山副镇长" in mishan["acknowledged"]["by"]
    assert [a["step"] for a in mishan["asked"]] == ["first", "repeat", "next", "duty_office"]
    assert _unit(view, "神农镇")["silent"] and _unit(view, "神农镇团西村")["silent"]
    townships = {t["name"] for t in view["acknowledgements"]}
    assert townships == {"米山镇", "三甲镇", "神农镇"}
    assert view["summary"]["acknowledged"] == 3 and view["summary"]["silent"] == view["summary"]["units"] - 3
    assert any("东周村书记（示例）以短信回复确认收到" in e["text"] for e in view["timeline"])

    # The page shows the same, for people.
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/events/{event_id}") as r:
            assert r.status == 200
            page = await r.text()
    finally:
        await http.close()
    assert "东周村书记（示例）" in page and "短信回复" in page and "✗ 未确认" in page
    assert "市教育局" in page and "研究决定学校安排" in page
    assert len(sent(world)) > 20


async def test_an_orange_warning_opens_an_event_with_tasks_but_no_callout(served: Served) -> None:
    world = served.world
    intake = await world.service.receive(sample_alert(level="orange"), source="test")
    assert intake.event_id is not None
    view = await _event(served, intake.event_id)
    assert view["level"] == "orange" and len(view["tasks"]) == 8
    # At orange only the institutions that are not on the urgent list are asked, with lower urgency.
    kinds = {u["kind"] for t in view["acknowledgements"] for u in t["units"]}
    assert kinds == {"institution"}

    # The Update raising it to red joins the same event and starts 叫应.
    update = sample_alert(level="red", identifier="14058141600000_20260712063000", msg_type="Update",
                          references="14058141600000,14058141600000_20260712053000,2026-07-12T05:30:00+08:00")
    again = await world.service.receive(update, source="test")
    assert again.event_id == intake.event_id
    view = await _event(served, intake.event_id)
    assert view["level"] == "red" and len(view["tasks"]) == 8, "tasks are not doubled"
    assert {u["kind"] for t in view["acknowledgements"] for u in t["units"]} == {"institution", "callout"}


async def test_a_yellow_warning_and_an_exercise_open_no_event(served: Served) -> None:
    assert (await served.world.service.receive(sample_alert(level="yellow"), source="test")).event_id is None
    drill = sample_alert(level="red", identifier="14058141600000_20260712070000", status="Exercise")
    assert (await served.world.service.receive(drill, source="test")).event_id is None


async def test_an_emergency_notice_without_a_colour_level_opens_an_event(served: Served) -> None:
    text = sample_alert(level="blue", identifier="14058141600000_20260712080000").decode("utf-8")
    # An earthquake notice: its own event code, no colour words anywhere.
    text = text.replace("<eventType>11B03</eventType>", "<eventType>11C02</eventType>")
    text = text.replace("<severity>Blue</severity>", "<severity>Unknown</severity>")
    text = text.replace("暴雨蓝色预警", "地震信息").replace("暴雨", "地震").replace("[Ⅳ级/一般]", "")
    intake = await served.world.service.receive(text.encode("utf-8"), source="test")
    assert intake.rejected is None and intake.event_id is not None
    view = await _event(served, intake.event_id)
    assert (view["hazard"], view["level"], view["origin"]) == ("earthquake", None, "emergency")
    assert {"jyj", "wtj", "yjj"} <= {t["department"] for t in view["tasks"]}, "the orange tasks of an earthquake"
    assert not view["acknowledgements"], "叫应 is for red"


async def test_a_department_officers_sms_reply_acknowledges_its_task(served: Served) -> None:
    world = served.world
    intake = await world.service.receive(sample_alert(level="red"), source="test")
    await world.service.events.run_once()
    assert "已确认您收到" in await served.sms_reply("+8613800000402", "收到")  # 教育局's night officer
    view = await _event(served, intake.event_id)  # type: ignore[arg-type]
    school = next(t for t in view["tasks"] if t["department"] == "jyj")
    assert school["state"] == "acknowledged" and school["acknowledged"]["by"] == "教育局夜班（示例）"
    assert all(t["state"] == "open" for t in view["tasks"] if t["department"] != "jyj")
