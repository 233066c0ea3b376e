"""Policy explanations and rumour responses go draft → expert review → (宣传部 sign-off) → approval →
delivery through the API, with every role checked on the server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from sqlalchemy import select

from alerts.organisations import OrganisationReport, parse_organisations_csv, upsert_organisations
from alerts.store.tables import deliveries, messages
from alerts.web.app import make_app
from tests.events.support import events_world, sent
from tests.web.conftest import free_port
from tests.workflow.support import World, sample_alert

KEY = Fernet.generate_key().decode()


class Robot:
    """A local WeCom group robot: answers as WeCom does and keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})


class Api:
    def __init__(self, world: World, base: str, http: aiohttp.ClientSession, robot: Robot):
        self.world, self.base, self.http, self.robot = world, base, http, robot

    async def call(self, user: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.world.tokens[user]}"}
        async with self.http.request(method, self.base + path, json=body, headers=headers) as r:
            return r.status, await r.json()


@pytest.fixture
async def api(config_dir: Path, database_url: str) -> AsyncIterator[Api]:
    robot = Robot()
    robot_app = web.Application()
    robot_app.router.add_post("/cgi-bin/webhook/send", robot.handle)
    robot_runner = web.AppRunner(robot_app)
    await robot_runner.setup()
    robot_port = free_port()
    await web.TCPSite(robot_runner, "127.0.0.1", robot_port).start()
    (config_dir / "notices.yaml").write_text("webhooks:\n  allow_http_hosts: [127.0.0.1]\n  timeout_seconds: 5\n",
                                             encoding="utf-8")
    world = await events_world(config_dir, database_url, tokens=True, env={"ALERTS_ENCRYPTION_KEY": KEY})
    rows, problems = parse_organisations_csv(
        "key,name,kind,area,contacts\n"
        f"community-mishan,米山社区,community,米山镇,wecom:http://127.0.0.1:{robot_port}/cgi-bin/webhook/send?key=c1\n"
        f"media-rmt,市融媒体中心编辑部,media,米山镇,wecom:http://127.0.0.1:{robot_port}/cgi-bin/webhook/send?key=m1\n",
        world.service.areas, allow_http_hosts=["127.0.0.1"])
    assert not problems, problems
    from alerts.crypto import cipher_from

    async with world.service.db.write() as conn:
        await upsert_organisations(conn, rows, cipher=cipher_from(world.service.settings.secrets),
                                   at=world.clock.now(), report=OrganisationReport())
    runner = web.AppRunner(make_app(world.service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(world, f"http://127.0.0.1:{port}", http, robot)
    finally:
        await runner.cleanup()
        await robot_runner.cleanup()
        await world.service.close()


async def _event(api: Api) -> int:
    intake = await api.world.service.receive(sample_alert(level="red"), source="test")
    assert intake.event_id is not None
    return intake.event_id


SCHOOLS = {"schools": "米山镇、三甲镇中小学和幼儿园", "dates": "7月12日", "arrangement": "停课一天，学生居家",
           "phone": "0356-5220000"}


async def test_a_policy_explanation_goes_from_the_department_through_expert_and_approvers_to_residents(api: Api) -> None:
    event_id = await _event(api)
    path = f"/api/v1/events/{event_id}/policy"
    body = {"skeleton": "school_arrangements", "fields": SCHOOLS, "targets": ["residents:sms", "residents:notice"]}
    # Only 教育局 drafts school arrangements; an observer drafts nothing.
    status, answer = await api.call("rs.officer", "POST", path, body)
    assert status == 403 and "市教育局" in answer["error"]
    status, answer = await api.call("liu.observer", "POST", path, body)
    assert status == 403 and "may not draft policy" in answer["error"]
    # Fields are checked: a web address is refused, as is an over-long field, naming the field.
    status, answer = await api.call("jy.officer", "POST", path, {**body, "fields": {**SCHOOLS, "phone": "http://x.cn"}})
    assert status == 422 and "phone" in answer["error"]
    status, answer = await api.call("jy.officer", "POST", path, {**body, "fields": {**SCHOOLS, "dates": "很长" * 20}})
    assert status == 422 and "dates" in answer["error"] and "at most 12" in answer["error"]

    status, draft = await api.call("jy.officer", "POST", path, body)
    assert status == 201 and draft["kind"] == "policy" and draft["state"] == "pending"
    sms = next(m for m in draft["messages"] if m["channel"] == "sms")
    assert sms["text"].startswith("【高平应急科普】政策解读：据市教育局通知，因暴雨红色预警，米山镇、三甲镇中小学和幼儿园在7月12日的安排：停课一天")
    assert sms["segments"] <= 2
    draft_id = draft["id"]

    # Approval waits for the expert's review of the filled fields; the author cannot review or approve.
    status, answer = await api.call("wang.approver", "POST", f"/api/v1/drafts/{draft_id}/approve")
    assert status == 409 and "expert" in answer["error"]
    assert (await api.call("jy.officer", "POST", f"/api/v1/drafts/{draft_id}/approve"))[0] == 403
    assert (await api.call("chen.expert", "POST", f"/api/v1/drafts/{draft_id}/review"))[0] == 200
    status, answer = await api.call("wang.approver", "POST", f"/api/v1/drafts/{draft_id}/approve")
    assert status == 200 and answer["state"] == "pending", "two approvers: the normal path, never expedited"
    status, answer = await api.call("zhao.approver", "POST", f"/api/v1/drafts/{draft_id}/approve")
    assert status == 200 and answer["state"] == "dispatching"

    await api.world.service.worker.drain()
    assert any(s["text"].startswith("【高平应急科普】政策解读：据市教育局通知") for s in sent(api.world))
    # Marked as a policy explanation in the public feed.
    async with api.http.get(f"{api.base}/feeds/alerts.atom") as r:
        feed = await r.text()
    assert "<title>政策解读</title>" in feed and "据市教育局通知" in feed

    status, view = await api.call("liu.observer", "GET", f"/api/v1/events/{event_id}")
    [item] = [d for d in view["drafts"] if d["kind"] == "policy"]
    assert item["state"] == "sent" and item["reviewed_by"] == ["chen.expert"]
    assert item["approved_by"] == ["wang.approver", "zhao.approver"] and item["department"] == "jyj"


async def test_a_rumour_response_needs_the_publicity_departments_sign_off_before_approval(api: Api) -> None:
    event_id = await _event(api)
    status, answer = await api.call("ma.publicity", "POST", f"/api/v1/events/{event_id}/rumours", {
        "claim": "米山镇水库已经决堤", "seen_where": "某村微信群", "seen_at": "2026-07-12T05:20:00+08:00"})
    assert status == 201
    rumour_id = answer["rumour_id"]
    fields = {"claim": "米山镇水库已经决堤", "facts": "该水库水位正常，堤坝安全，有专人值守", "source": "高平市应急管理局"}
    targets = ["residents:notice", "residents:sms", "communities:im", "media:im"]
    assert (await api.call("liu.observer", "POST", f"/api/v1/events/{event_id}/rumours/{rumour_id}/response",
                            {"fields": fields, "targets": targets}))[0] == 403
    status, draft = await api.call("jy.officer", "POST", f"/api/v1/events/{event_id}/rumours/{rumour_id}/response",
                                   {"fields": fields, "targets": targets})
    assert status == 201 and draft["kind"] == "rumour_response"
    draft_id = draft["id"]
    sms = next(m for m in draft["messages"] if m["channel"] == "sms")
    assert "网传“米山镇水库已经决堤”。经核实，该水库水位正常" in sms["text"]

    sign = f"/api/v1/drafts/{draft_id}/sign-off"
    # Sign-off comes after the expert's review; nobody but 宣传部 signs off.
    status, answer = await api.call("ma.publicity", "POST", sign)
    assert status == 409 and "review" in answer["error"]
    assert (await api.call("chen.expert", "POST", f"/api/v1/drafts/{draft_id}/review"))[0] == 200
    for other in ("wang.approver", "chen.expert", "jy.officer", "admin"):
        status, answer = await api.call(other, "POST", sign)
        assert status == 403 and "may not sign off rumour" in answer["error"], other
    # The emergency office cannot approve before 宣传部 signed off.
    status, answer = await api.call("wang.approver", "POST", f"/api/v1/drafts/{draft_id}/approve")
    assert status == 409 and "宣传部" in answer["error"]
    status, answer = await api.call("ma.publicity", "POST", sign)
    assert status == 200 and any(a["decision"] == "sign_off" for a in answer["approvals"])
    assert (await api.call("xu.publicity", "POST", sign))[0] == 409, "signed off once"

    assert (await api.call("wang.approver", "POST", f"/api/v1/drafts/{draft_id}/approve"))[1]["state"] == "pending"
    assert (await api.call("zhao.approver", "POST", f"/api/v1/drafts/{draft_id}/approve"))[1]["state"] == "dispatching"
    await api.world.service.worker.drain()

    # Delivered: SMS to the affected area, the communities' and newsrooms' IM groups, the public feed.
    assert any(s["text"].startswith("【高平应急科普】辟谣：网传“米山镇水库已经决堤”") for s in sent(api.world))
    texts = [r["text"]["content"] for r in api.robot.received]
    assert len(texts) == 2 and all("不信谣、不传谣" in t for t in texts)
    async with api.world.service.db.read() as conn:
        states = {r.state for r in await conn.execute(
            select(deliveries.c.state).join(messages, messages.c.id == deliveries.c.message_id)
            .where(messages.c.draft_id == draft_id))}
    assert states == {"sent"}
    async with api.http.get(f"{api.base}/feeds/alerts.atom") as r:
        assert "<title>辟谣 · 舆情回应</title>" in await r.text()

    # The records stay with the event.
    status, view = await api.call("liu.observer", "GET", f"/api/v1/events/{event_id}")
    assert view["rumours"][0]["claim"] == "米山镇水库已经决堤" and view["rumours"][0]["state"] == "responding"
    [item] = [d for d in view["drafts"] if d["kind"] == "rumour_response"]
    assert item["signed_off_by"] == ["ma.publicity"] and item["rumour_id"] == rumour_id and item["state"] == "sent"
    assert any("宣传部）审签辟谣回应" in e["text"] for e in view["timeline"])


async def test_event_ids_beyond_64_bits_and_unknown_ones_answer_404(api: Api) -> None:
    for path in ("/api/v1/events/99999999999999999999999", "/api/v1/events/0", "/api/v1/events/x",
                 "/api/v1/events/9223372036854775807"):
        status, answer = await api.call("liu.observer", "GET", path)
        assert status == 404 and "error" in answer, path
    status, _ = await api.call("ma.publicity", "POST", "/api/v1/drafts/99999999999999999999/sign-off")
    assert status == 404
