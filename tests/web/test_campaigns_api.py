"""The campaign API and console on a real server: who may trigger, what bad parameters get back."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from alerts.app import Service
from alerts.clock import SHANGHAI, ManualClock
from alerts.settings import load_settings
from alerts.store import drafts as draft_store
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from alerts.web.app import make_app
from alerts.web.auth import SESSION_COOKIE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    base: str
    service: Service
    tokens: dict[str, str]
    cookies: dict[str, tuple[str, str]]  # user -> (cookie, csrf)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture
async def site(config_dir: Path, database_url: str) -> AsyncIterator[Site]:
    clock = ManualClock(datetime(2027, 7, 10, 9, 0, tzinfo=SHANGHAI))
    svc = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url}), clock=clock)
    await upgrade(svc.db)
    tokens, cookies = {}, {}
    async with svc.db.write() as conn:
        for name, role in [("qx.campaigner", "campaigner"), ("wang.approver", "approver"), ("zhao.observer", "observer"),
                           ("li.editor", "editor")]:
            user = await user_store.add(conn, name, [role], f"{name}-password-1", at=clock.now())
            tokens[name] = await user_store.create_token(conn, user, "test", at=clock.now())
            cookies[name] = await user_store.create_session(conn, user, at=clock.now())
    runner = web.AppRunner(make_app(svc))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Site(f"http://127.0.0.1:{port}", svc, tokens, cookies)
    finally:
        await runner.cleanup()
        await svc.close()


HEAT = {"start": "2027-07-12", "end": "2027-07-15", "areas": ["米山镇", "140581102"]}


async def test_a_campaigner_triggers_a_campaign_and_it_waits_for_an_approver(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site.base}/api/v1/campaigns/heat_spell/trigger", json=HEAT,
                             headers=site.auth("qx.campaigner")) as r:
            assert r.status == 201, await r.text()
            body = await r.json()
        assert body["state"] == "drafted" and body["campaign"] == "heat_spell"
        draft_id = body["draft_id"]
        async with site.service.db.read() as conn:
            record = await draft_store.get(conn, draft_id)
        assert record is not None and record.row.kind == "campaign" and record.row.state == "pending"
        assert record.row.created_by == "qx.campaigner"
        assert {m.audience for m in record.messages} == {"residents", "elderly"}
        assert all(m.areas == ["140581101", "140581102"] for m in record.messages)
        # The campaigner cannot approve (not even their own trigger); an approver can.
        async with http.post(f"{site.base}/api/v1/drafts/{draft_id}/approve", headers=site.auth("qx.campaigner")) as r:
            assert r.status == 403
            assert "approve" in (await r.json())["error"]
        async with http.post(f"{site.base}/api/v1/drafts/{draft_id}/approve", headers=site.auth("wang.approver")) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["state"] in ("dispatching", "sent")
        async with http.get(f"{site.base}/api/v1/campaigns/heat_spell/report", headers=site.auth("zhao.observer")) as r:
            report = await r.json()
        assert report["occurrences"][0]["trigger"] == "manual" and report["occurrences"][0]["draft_id"] == draft_id


async def test_preview_shows_the_texts_and_records_nothing(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        for url in ("/api/v1/campaigns/heat_spell/preview", "/api/v1/campaigns/heat_spell/trigger?preview=1"):
            async with http.post(site.base + url, json=HEAT, headers=site.auth("qx.campaigner")) as r:
                assert r.status == 200, await r.text()
                body = await r.json()
            assert body["problems"] == [] and body["deferred_by"] == []
            assert {m["template_id"] for m in body["messages"]} == {"heat.seasonal.residents.sms",
                                                                    "heat.seasonal.elderly.sms"}
            assert all(m["sms"].startswith("【高平应急科普】") for m in body["messages"])
    async with site.service.db.read() as conn:
        assert await draft_store.list_drafts(conn) == []


@pytest.mark.parametrize("user", ["wang.approver", "zhao.observer", "li.editor"])
async def test_trigger_refuses_roles_without_trigger_campaign(site: Site, user: str) -> None:
    async with aiohttp.ClientSession() as http:
        for url in ("/api/v1/campaigns/heat_spell/trigger", "/api/v1/campaigns/heat_spell/preview"):
            async with http.post(site.base + url, json=HEAT, headers=site.auth(user)) as r:
                assert r.status == 403
                error = (await r.json())["error"]
                assert f"'{user}' may not trigger campaigns" in error and "campaigner" in error
        async with http.post(f"{site.base}/api/v1/campaigns/heat_spell/trigger", json=HEAT) as r:
            assert r.status == 401


@pytest.mark.parametrize("body, status, expected", [
    ("not json", 400, "not valid JSON"),
    ([1, 2], 400, "expected an object"),
    ({"start": "2027-07-15", "end": "2027-07-12"}, 422, "end 2027-07-12 is before start 2027-07-15"),
    ({"end": "2027-07-12"}, 422, "end is given without start"),
    ({"start": "12 July"}, 422, "start: Input should be a valid date"),
    ({"start": "2027-07-01"}, 422, "start: 2027-07-01 is in the past"),
    ({"areas": ["火星镇"]}, 422, "areas[0]: '火星镇' is not a township of 高平市"),
    ({"areas": []}, 422, "areas: List should have at least 1 item"),
    ({"colour": "red"}, 422, "colour: Extra inputs are not permitted"),
    ({"params": {"Peak!": 40}}, 422, "parameter name 'Peak!'"),
    ({"params": {"start": "x"}}, 422, "set from the start/end fields"),
    ({"params": {"note": "很长" * 30}}, 422, "at most 40 keep SMS within length"),
])
async def test_trigger_refuses_bad_parameters_with_a_clear_error(site: Site, body: object, status: int,
                                                                 expected: str) -> None:
    async with aiohttp.ClientSession() as http:
        kwargs = {"data": body} if isinstance(body, str) else {"json": body}
        async with http.post(f"{site.base}/api/v1/campaigns/heat_spell/trigger", headers=site.auth("qx.campaigner"),
                             **kwargs) as r:
            assert r.status == status, await r.text()
            assert expected in (await r.json())["error"]
    async with site.service.db.read() as conn:
        assert await draft_store.list_drafts(conn) == []


async def test_unknown_campaign_is_404_with_the_known_ids(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site.base}/api/v1/campaigns/nope/trigger", json={},
                             headers=site.auth("qx.campaigner")) as r:
            assert r.status == 404
            assert "no campaign 'nope'" in (await r.json())["error"] and "heat_spell" in (await r.json())["error"]


async def test_a_trigger_during_an_open_warning_is_recorded_as_deferred(site: Site) -> None:
    from tests.campaigns.conftest import add_warning_draft

    warning = await add_warning_draft(site.service, ["140581101"])
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site.base}/api/v1/campaigns/heat_spell/preview", json=HEAT,
                             headers=site.auth("qx.campaigner")) as r:
            assert f"warning draft {warning}" in (await r.json())["deferred_by"][0]
        async with http.post(f"{site.base}/api/v1/campaigns/heat_spell/trigger", json=HEAT,
                             headers=site.auth("qx.campaigner")) as r:
            assert r.status == 202
            body = await r.json()
    assert body["state"] == "deferred" and body["draft_id"] is None and f"warning draft {warning}" in body["reason"]


async def test_one_off_campaign_from_reviewed_templates(site: Site) -> None:
    one_off = {"name": "中考期间防暑提示", "templates": ["heat.seasonal.residents.sms"], "areas": ["北城街道"]}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{site.base}/api/v1/campaigns?preview=1", json=one_off,
                             headers=site.auth("qx.campaigner")) as r:
            assert r.status == 200 and len((await r.json())["messages"]) == 1
        async with http.post(f"{site.base}/api/v1/campaigns", json=one_off, headers=site.auth("qx.campaigner")) as r:
            assert r.status == 201, await r.text()
            body = await r.json()
        assert body["campaign"].startswith("oneoff_") and body["name"] == "中考期间防暑提示"
        async with site.service.db.read() as conn:
            record = await draft_store.get(conn, body["draft_id"])
        assert record is not None and [m.areas for m in record.messages] == [["140581001"]]
        for bad, expected in [({**one_off, "templates": ["heat.red.residents.sms"]}, "has stage warning"),
                              ({**one_off, "templates": ["nope.x"]}, "'nope.x' is not in the library"),
                              ({**one_off, "templates": []}, "templates: List should have at least 1 item")]:
            async with http.post(f"{site.base}/api/v1/campaigns", json=bad, headers=site.auth("qx.campaigner")) as r:
                assert r.status == 422 and expected in (await r.json())["error"]
        async with http.post(f"{site.base}/api/v1/campaigns", json=one_off, headers=site.auth("wang.approver")) as r:
            assert r.status == 403


async def test_console_calendar_and_campaign_page_with_preview_and_submit(site: Site) -> None:
    cookie, csrf = site.cookies["qx.campaigner"]
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        async with http.get(f"{site.base}/campaigns?from=2027-01-01&to=2027-12-31") as r:
            assert r.status == 200
            page = await r.text()
        assert "宣传活动日历" in page and "2027-05-12 10:00" in page and "世界气象日" in page
        async with http.get(f"{site.base}/campaigns/heat_spell") as r:
            assert r.status == 200 and "提交审批" not in await r.text()
        form = {"csrf": csrf, "start": "2027-07-12", "end": "2027-07-15", "areas": "140581101", "action": "preview"}
        async with http.post(f"{site.base}/campaigns/heat_spell/trigger", data=form) as r:
            page = await r.text()
            assert r.status == 200 and "预览" in page and "高温季节到了" in page and "提交审批" in page
        async with http.post(f"{site.base}/campaigns/heat_spell/trigger", data={**form, "action": "submit"},
                             allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/drafts/")
        async with http.get(f"{site.base}/campaigns/heat_spell") as r:
            page = await r.text()
            assert "手动：qx.campaigner" in page and "已生成消息" in page
        async with http.post(f"{site.base}/campaigns/heat_spell/trigger", data={**form, "csrf": "forged"}) as r:
            assert r.status == 403
        async with http.post(f"{site.base}/campaigns/heat_spell/trigger",
                             data={**form, "start": "2027-07-01"}) as r:
            assert r.status == 422 and "in the past" in await r.text()
    cookie, csrf = site.cookies["wang.approver"]
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        async with http.post(f"{site.base}/campaigns/heat_spell/trigger", data={**form, "csrf": csrf}) as r:
            assert r.status == 403


async def test_console_one_off_campaign_from_reviewed_templates(site: Site) -> None:
    cookie, csrf = site.cookies["qx.campaigner"]
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        async with http.get(f"{site.base}/campaigns") as r:
            assert "新建一次性宣传" in await r.text()
        async with http.get(f"{site.base}/campaigns/new") as r:
            page = await r.text()
        assert r.status == 200 and "heat.seasonal.residents.sms" in page
        assert "heat.red.residents.sms" not in page  # warning templates are not offered
        form = aiohttp.FormData([("csrf", csrf), ("name", "中考防暑"), ("templates", "heat.seasonal.residents.sms"),
                                 ("areas", "140581001"), ("action", "preview")])
        async with http.post(f"{site.base}/campaigns/new", data=form) as r:
            page = await r.text()
            assert r.status == 200 and "高温季节到了" in page and "提交审批" in page
        form = aiohttp.FormData([("csrf", csrf), ("name", "中考防暑"), ("templates", "heat.seasonal.residents.sms"),
                                 ("areas", "140581001"), ("action", "submit")])
        async with http.post(f"{site.base}/campaigns/new", data=form, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/drafts/")
        async with http.post(f"{site.base}/campaigns/new", data={"csrf": csrf, "name": "无模板"}) as r:
            assert r.status == 422 and "templates" in await r.text()
    cookie, csrf = site.cookies["zhao.observer"]
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: cookie}) as http:
        async with http.get(f"{site.base}/campaigns/new") as r:
            assert r.status == 403
        async with http.get(f"{site.base}/campaigns") as r:
            assert r.status == 200 and "新建一次性宣传" not in await r.text()


async def test_calendar_api_lists_campaigns_and_occurrences_for_viewers(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{site.base}/api/v1/campaigns", headers=site.auth("zhao.observer")) as r:
            assert r.status == 200
            campaigns = {c["id"]: c for c in (await r.json())["campaigns"]}
        assert campaigns["fire_safety_day"]["next"] == "2027-11-09T10:00:00+08:00"  # the clock is 10 July 2027
        assert campaigns["heat_spell"]["next"] is None and "on demand" in campaigns["heat_spell"]["rule"]
        async with http.get(f"{site.base}/api/v1/campaigns/occurrences?from=2027-03-01&to=2027-03-31",
                            headers=site.auth("zhao.observer")) as r:
            found = (await r.json())["occurrences"]
        assert [(o["campaign"], o["at"]) for o in found if o["campaign"] != "heating_season_co"] == [
            ("meteorology_day", "2027-03-23T10:00:00+08:00")]
        async with http.get(f"{site.base}/api/v1/campaigns/occurrences?from=March",
                            headers=site.auth("zhao.observer")) as r:
            assert r.status == 400 and "2027-01-01" in (await r.json())["error"]
