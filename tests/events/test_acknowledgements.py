"""Acknowledging without the SMS: a signed one-click link in a department's IM group (no login, one
click, never by merely opening it), the console for tasks done and calls taken by phone, and the
permissions behind each; closing an event stops its escalation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from alerts.crypto import cipher_from
from alerts.events import requests
from alerts.organisations import OrganisationReport, parse_organisations_csv, upsert_organisations
from alerts.web.app import make_app
from tests.events.support import events_world, sent
from tests.events.test_publishing import Robot
from tests.web.conftest import csrf_of, free_port, login
from tests.workflow.support import World, sample_alert

KEY = Fernet.generate_key().decode()
LINK = re.compile(r"https://alerts\.gaoping\.example\.cn(/ack/[A-Za-z0-9_.\-]+)")


class Site:
    def __init__(self, world: World, base: str, http: aiohttp.ClientSession, robot: Robot):
        self.world, self.base, self.http, self.robot = world, base, http, robot

    async def api(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.world.tokens[user]}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json()

    async def event(self, event_id: int) -> dict[str, Any]:
        status, view = await self.api("liu.observer", "GET", f"/api/v1/events/{event_id}")
        assert status == 200
        return dict(view)


@pytest.fixture
async def site(config_dir: Path, database_url: str) -> AsyncIterator[Site]:
    robot = Robot()
    robot_app = web.Application()
    robot_app.router.add_post("/cgi-bin/webhook/send", robot.handle)
    robot_runner = web.AppRunner(robot_app)
    await robot_runner.setup()
    robot_port = free_port()
    await web.TCPSite(robot_runner, "127.0.0.1", robot_port).start()
    (config_dir / "notices.yaml").write_text("webhooks:\n  allow_http_hosts: [127.0.0.1]\n", encoding="utf-8")
    departments = config_dir / "departments.yaml"
    departments.write_text(departments.read_text(encoding="utf-8").replace(
        "    members: [jy.officer]\n", "    members: [jy.officer]\n    groups: [dept-jyj]\n"), encoding="utf-8")
    world = await events_world(config_dir, database_url, tokens=True, env={"ALERTS_ENCRYPTION_KEY": KEY})
    rows, problems = parse_organisations_csv(
        "key,name,kind,area,contacts\n"
        f"dept-jyj,市教育局值班群,department,米山镇,wecom:http://127.0.0.1:{robot_port}/cgi-bin/webhook/send?key=j\n",
        world.service.areas, allow_http_hosts=["127.0.0.1"])
    assert not problems
    async with world.service.db.write() as conn:
        await upsert_organisations(conn, rows, cipher=cipher_from(world.service.settings.secrets),
                                   at=world.clock.now(), report=OrganisationReport())
    runner = web.AppRunner(make_app(world.service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Site(world, f"http://127.0.0.1:{port}", http, robot)
    finally:
        await runner.cleanup()
        await robot_runner.cleanup()
        await world.service.close()


def _task(view: dict[str, Any], department: str) -> dict[str, Any]:
    return next(t for t in view["tasks"] if t["department"] == department)


async def test_a_task_is_acknowledged_with_one_click_on_the_signed_link_in_the_department_group(site: Site) -> None:
    intake = await site.world.service.receive(sample_alert(level="red"), source="test")
    event_id = intake.event_id
    assert event_id is not None
    await site.world.service.events.run_once()
    [message] = [r["text"]["content"] for r in site.robot.received]
    assert "【任务】市教育局：暴雨红色预警" in message and "一键确认收到（无需登录）" in message
    path = LINK.search(message).group(1)  # type: ignore[union-attr]

    # Opening the link (as an IM preview does) acknowledges nothing; the button does.
    async with site.http.get(site.base + path) as r:
        assert r.status == 200 and "确认收到" in await r.text()
    assert _task(await site.event(event_id), "jyj")["state"] == "open"
    async with site.http.post(site.base + path) as r:
        assert r.status == 200 and "已确认收到" in await r.text()
    task = _task(await site.event(event_id), "jyj")
    assert task["state"] == "acknowledged" and task["acknowledged"]["via"] == "link"
    assert task["acknowledged"]["by"] == "市教育局工作群"
    async with site.http.post(site.base + path) as r:
        assert "此前已确认" in await r.text()

    # Escalation stops for it: fifteen minutes later only unanswered tasks are sent again.
    site.world.clock.advance(minutes=15)
    await site.world.service.events.run_once()
    assert len(site.robot.received) == 1
    assert len([s for s in sent(site.world) if "市教育局" in s["text"] and "任务提醒：" in s["text"]]) == 1

    # A tampered or expired link acknowledges nothing.
    rid, person, expires, signature = path.removeprefix("/ack/").split(".")
    for bad in (f"{rid}.{person}.{int(expires) + 1}.{signature}", f"{int(rid) + 1}.{person}.{expires}.{signature}"):
        async with site.http.post(f"{site.base}/ack/{bad}") as r:
            assert r.status == 404 and "链接无效或已过期" in await r.text()
    other = _task(await site.event(event_id), "rsj")["request_id"]
    site.world.clock.advance(hours=49)
    from alerts.events.links import make_token

    stale = make_token(site.world.service.events.link_key, other, "g:x", now=site.world.clock.now(), valid_hours=-1)
    async with site.http.post(f"{site.base}/ack/{stale}") as r:
        assert r.status == 404
    assert _task(await site.event(event_id), "rsj")["state"] == "open"


async def test_departments_complete_their_own_tasks_and_coordinators_record_calls(site: Site) -> None:
    intake = await site.world.service.receive(sample_alert(level="red"), source="test")
    event_id = intake.event_id
    view = await site.event(event_id)  # type: ignore[arg-type]
    school = _task(view, "jyj")

    # 人社局 cannot complete 教育局's task; 教育局 can, in the console.
    http = await login(site.base, "rs.officer")
    async with http.get(f"{site.base}/events/{event_id}") as r:
        token = csrf_of(await r.text())
    async with http.post(f"{site.base}/events/{event_id}/tasks/{school['id']}/done", data={"csrf": token}) as r:
        # post/redirect/get: the refusal is shown once on the event page, in Chinese
        assert r.history[0].status == 303 and "只有该部门的成员才能标记完成" in await r.text()
    await http.close()
    http = await login(site.base, "jy.officer")
    async with http.get(f"{site.base}/events/{event_id}") as r:
        token = csrf_of(await r.text())
    async with http.post(f"{site.base}/events/{event_id}/tasks/{school['id']}/done",
                         data={"csrf": token, "note": "已通知全市中小学7月12日停课"}) as r:
        assert r.status == 200 and "任务已标记完成" in await r.text()
    async with http.post(f"{site.base}/events/{event_id}/tasks/{school['id']}/done", data={"csrf": "forged"}) as r:
        assert r.status == 403
    await http.close()
    school = _task(await site.event(event_id), "jyj")  # type: ignore[arg-type]
    assert school["state"] == "done" and school["done_by"] == "jy.officer" and "停课" in school["note"]

    # A township head answered the duty officer's phone call: the coordinator records it.
    unit = next(u for t in view["acknowledgements"] for u in t["units"] if u["unit"] == "神农镇")
    path = f"/api/v1/events/{event_id}/acknowledgements/{unit['request_id']}"
    assert (await site.api("liu.observer", "POST", path, {"note": "电话联系"}))[0] == 403
    status, after = await site.api("wang.approver", "POST", path, {"note": "电话联系，已收到"})
    assert status == 200
    recorded = next(u for t in after["acknowledgements"] for u in t["units"] if u["unit"] == "神农镇")
    assert recorded["acknowledged"]["via"] == "console" and recorded["acknowledged"]["text"] == "电话联系，已收到"
    assert (await site.api("wang.approver", "POST", path, {}))[0] == 409

    # Closing the event stops all escalation.
    assert (await site.api("liu.observer", "POST", f"/api/v1/events/{event_id}/close", {}))[0] == 403
    status, closed = await site.api("wang.approver", "POST", f"/api/v1/events/{event_id}/close", {"note": "雨停"})
    assert status == 200 and closed["state"] == "closed"
    async with site.world.service.db.read() as conn:
        assert {r.state for r in await requests.of_event(conn, event_id)} <= {"acknowledged", "stopped"}  # type: ignore[arg-type]
    before = len(sent(site.world))
    site.world.clock.advance(minutes=30)
    await site.world.service.events.run_once()
    assert len(sent(site.world)) == before


async def test_an_event_opened_by_hand_gets_its_tasks_and_callout(site: Site) -> None:
    body = {"hazard": "heat", "level": "red", "areas": ["米山镇"]}
    assert (await site.api("jy.officer", "POST", "/api/v1/events", body))[0] == 403
    status, answer = await site.api("wang.approver", "POST", "/api/v1/events", {**body, "level": "crimson"})
    assert status == 422 and "level" in answer["error"]
    status, answer = await site.api("wang.approver", "POST", "/api/v1/events", {**body, "areas": ["火星镇"]})
    assert status == 422 and "火星镇" in answer["error"]
    status, view = await site.api("wang.approver", "POST", "/api/v1/events", body)
    assert status == 201 and view["origin"] == "manual" and view["title"] == "高温红色预警（米山镇）"
    assert {"rsj", "wtj", "jyj"} <= {t["department"] for t in view["tasks"]}
    assert {u["unit"] for t in view["acknowledgements"] for u in t["units"]} >= {"米山镇", "米山镇东周村"}
    status, listed = await site.api("liu.observer", "GET", "/api/v1/events?state=open")
    assert [e["id"] for e in listed["events"]] == [view["id"]] and listed["events"][0]["silent"] > 0
