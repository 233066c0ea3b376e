"""Events in a mainland deployment: with ALERTS_SMS_PROVIDER=aliyun or tencent, department task notices and
叫应 requests reach the local provider server through the official SDK as registered template codes with
variables; a reply through the provider's hook stops escalation. An event wording that is not registered
is reported by `alerts check`, and a send of it records why it could not go out. A policy explanation
reaches residents as its registered skeleton too."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from alerts.channels.sms.channel import SmsChannel
from alerts.store.tables import ack_attempts
from alerts.web.app import make_app
from tests.channels.sms_support import provider_selected, registry
from tests.events.support import events_world
from tests.test_checks import check
from tests.web.conftest import free_port
from tests.workflow.support import World, sample_alert

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "callback-token-0123456789"
SCHOOL_NIGHT_OFFICER = "+8613800000402"  # 教育局, on duty at 05:35
DONGZHOU_SECRETARY = "+8613900001011"
MISHAN_HEAD = "+8613900001001"


class Provider:
    def __init__(self, name: str, server: Any):
        self.name, self.server = name, server
        self.registry = registry()
        self.replies = 0

    def code(self, template_id: str) -> str:
        registered = self.registry.get(self.name, template_id)
        assert registered is not None
        return registered.code

    def sent_to(self, phone: str) -> list[tuple[str, str]]:
        """(template code, text as the phone shows it without the signature) of what went to `phone`."""
        return [(s.code if self.name == "aliyun" else s.template, s.content) for s in self.server.sent
                if s.phone[-11:] == phone[-11:]]

    async def reply(self, base: str, phone: str, text: str) -> None:
        """The provider pushes a reply (Aliyun SmsUp, Tencent's reply callback) to our hook."""
        self.replies += 1
        if self.name == "aliyun":
            url = f"{base}/hooks/aliyun/sms/reply/{TOKEN}"
            body: Any = [{"phone_number": phone[3:], "send_time": "2026-07-12 05:40:00", "content": text,
                          "sign_name": "高平应急科普", "dest_code": "1234", "sequence_id": self.replies}]
        else:
            url = f"{base}/hooks/tencent/sms/reply/{TOKEN}"
            body = {"extend": "", "mobile": phone[3:], "nationcode": "86", "sign": "高平应急科普", "text": text,
                    "time": 1783800000 + self.replies}
        status, _ = await self.server.push(url, body)
        assert status == 200


@pytest.fixture(params=["aliyun", "tencent"])
async def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                   config_dir: Path) -> AsyncIterator[Provider]:
    name = request.param
    async with provider_selected(name, monkeypatch, config_dir, TOKEN) as server:
        yield Provider(name, server)


async def _served(world: World) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(make_app(world.service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def _attempts(world: World, phone: str) -> list[tuple[str, str, str]]:
    async with world.service.db.read() as conn:
        return [(r.step_kind, r.outcome, r.detail or "") for r in await conn.execute(
            select(ack_attempts).where(ack_attempts.c.phone == phone).order_by(ack_attempts.c.id))]


async def test_tasks_and_callout_go_out_as_registered_templates_and_a_reply_stops_escalation(
        provider: Provider, config_dir: Path, database_url: str) -> None:
    world = await events_world(config_dir, database_url)
    runner, base = await _served(world)
    try:
        assert isinstance(world.service.channels["sms"], SmsChannel)
        intake = await world.service.receive(sample_alert(level="red"), source="test")
        assert intake.event_id is not None
        await world.service.events.run_once()

        # The school task: the registered code of task.school_arrangements, its variables filled in.
        [(code, text)] = provider.sent_to(SCHOOL_NIGHT_OFFICER)
        assert code == provider.code("task.school_arrangements")
        assert text.startswith("任务提醒：市教育局，因暴雨红色预警（") and "本平台不代发停课通知" in text
        # 叫应 for the township and village heads: the registered callout template.
        for phone in (MISHAN_HEAD, DONGZHOU_SECRETARY):
            [(code, text)] = provider.sent_to(phone)
            assert code == provider.code("callout.callout") and text.startswith("叫应提醒：")
            assert await _attempts(world, phone) == [("first", "sent", "")]
        event_codes = {r.code for r in provider.registry.accounts[provider.name].events.values()}
        sent_codes = {s.code if provider.name == "aliyun" else s.template for s in provider.server.sent}
        assert sent_codes and sent_codes <= event_codes, "every event SMS went out as a registered event template"
        assert all("【" not in s.content for s in provider.server.sent), "the provider adds the signature itself"

        # The village secretary answers "收到" by SMS, through the provider: escalation stops for that unit.
        await provider.reply(base, DONGZHOU_SECRETARY, "收到")
        world.clock.advance(minutes=10)
        await world.service.events.run_once()
        assert len(provider.sent_to(DONGZHOU_SECRETARY)) == 1
        assert [s for s, _, _ in await _attempts(world, DONGZHOU_SECRETARY)] == ["first"]
        # The township head stays silent: asked again, through the provider, with the same template.
        assert [(s, o) for s, o, _ in await _attempts(world, MISHAN_HEAD)] == [("first", "sent"), ("repeat", "sent")]
        assert [c for c, _ in provider.sent_to(MISHAN_HEAD)] == [provider.code("callout.callout")] * 2
        # The school's night officer acknowledges the task the same way.
        await provider.reply(base, SCHOOL_NIGHT_OFFICER, "收到")
        world.clock.advance(minutes=15)
        await world.service.events.run_once()
        assert len(provider.sent_to(SCHOOL_NIGHT_OFFICER)) == 1
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_an_unregistered_event_text_is_reported_by_check_and_its_send_records_why(
        provider: Provider, config_dir: Path, database_url: str) -> None:
    path = config_dir / "sms_providers.yaml"
    text = path.read_text(encoding="utf-8")
    # The callout's registration removed from the provider under test.
    section = text.index(f"\n{provider.name}:\n")
    start = text.index("    callout.callout:\n", section)
    end = text.index("    callout.institution:\n", start)
    path.write_text(text[:start] + text[end:], encoding="utf-8")

    code, out = check(config_dir)
    assert code != 0 and f"{provider.name}.event_templates.callout.callout: missing — register this wording" in out
    assert "叫应提醒：" in out, "the check says which wording to register"

    world = await events_world(config_dir, database_url)
    try:
        await world.service.receive(sample_alert(level="red"), source="test")
        await world.service.events.run_once()
        [(step, outcome, detail)] = await _attempts(world, MISHAN_HEAD)
        assert (step, outcome) == ("first", "failed")
        assert f"template callout.callout has no registered {provider.name} code" in detail
        assert not provider.sent_to(MISHAN_HEAD), "never sent as some other text"
        assert provider.sent_to(SCHOOL_NIGHT_OFFICER), "the registered task notices still go out"
    finally:
        await world.service.close()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_check_reports_event_wording_that_differs_does_not_fit_or_cannot_be_registered(
        config_dir: Path, tmp_path: Path) -> None:
    from alerts.events.stamp import main as stamp

    library = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", library)
    _edit(config_dir / "service.yaml", f"templates_dir: {ROOT / 'templates'}", f"templates_dir: {library}")
    # A reviewed change of wording (stamped) that nobody registered with the providers.
    _edit(library / "rumour" / "response.yml", "不信谣、不传谣。\n", "不信谣。\n")
    # A field longer than the providers' variables may be.
    _edit(library / "rumour" / "response.yml", "label: 经核实的情况, max: 20", "label: 经核实的情况, max: 40")
    # Two variables side by side, and 【】 in the body.
    _edit(library / "policy" / "traffic_control.yml", "{{ road }}实行交通管制（{{ period }}）",
          "【管制】{{ road }}{{ period }}实行交通管制")
    files = [str(library / "rumour" / "response.yml"), str(library / "policy" / "traffic_control.yml")]
    assert stamp([*files, "--reviewed-by", "专家组", "--approved-by", "应急局"]) == 0

    code, out = check(config_dir)
    assert code != 0
    for provider, limit in (("aliyun", 35), ("tencent", 20)):
        assert f"{provider}.event_templates.rumour.response: the registered wording differs" in out
        assert (f"{provider}.event_templates.rumour.response: variable facts is 40 characters ('{'字' * 40}'); "
                f"{provider} allows at most {limit}") in out
    assert "traffic_control.yml: texts.sms: two variables stand side by side" in out
    assert "traffic_control.yml: texts.sms: holds 【】" in out


def test_export_includes_the_event_skeletons_before_the_templates(config_dir: Path) -> None:
    from click.testing import CliRunner

    from alerts.cli import cli

    result = CliRunner().invoke(cli, ["sms", "export-templates", "--provider", "tencent", "--format", "yaml",
                                      "--config", str(config_dir)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("  event_templates:\n") < out.index("  templates:\n")
    assert "    callout.callout:\n" in out and "variables: [issuer, event, areas, unit]" in out
    sheet = CliRunner().invoke(cli, ["sms", "export-templates", "--provider", "aliyun", "--config", str(config_dir)])
    assert "叫应提醒：${issuer}发布${event}（${areas}）" in sheet.stdout and ",callout.callout" in sheet.stdout
    assert "${phone}=phone（电话号码）" in sheet.stdout


async def test_a_policy_explanation_reaches_residents_as_its_registered_template(
        provider: Provider, config_dir: Path, database_url: str) -> None:
    world = await events_world(config_dir, database_url, tokens=True)
    runner, base = await _served(world)
    try:
        intake = await world.service.receive(sample_alert(level="red"), source="test")
        fields = {"schools": "米山镇、三甲镇中小学和幼儿园", "dates": "7月12日", "arrangement": "停课一天，学生居家",
                  "phone": "0356-5220000"}
        async with aiohttp.ClientSession() as http:
            async def call(user: str, path: str, body: Any = None) -> Any:
                headers = {"Authorization": f"Bearer {world.tokens[user]}"}
                async with http.post(base + path, json=body, headers=headers) as r:
                    assert r.status in (200, 201), await r.text()
                    return await r.json()

            draft = await call("jy.officer", f"/api/v1/events/{intake.event_id}/policy",
                               {"skeleton": "school_arrangements", "fields": fields, "targets": ["residents:sms"]})
            await call("chen.expert", f"/api/v1/drafts/{draft['id']}/review")
            await call("wang.approver", f"/api/v1/drafts/{draft['id']}/approve")
            assert (await call("zhao.approver", f"/api/v1/drafts/{draft['id']}/approve"))["state"] == "dispatching"
        await world.service.worker.drain()
        code = provider.code("policy.school_arrangements")
        policy = [s for s in provider.server.sent if (s.code if provider.name == "aliyun" else s.template) == code]
        assert policy and all(s.content.startswith("政策解读：据市教育局通知，因暴雨红色预警，米山镇、三甲镇中小学"
                                                   "和幼儿园在7月12日的安排：停课一天，学生居家。") for s in policy)
        assert all("0356-5220000" in s.content for s in policy)
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_the_duty_approver_is_reminded_through_the_provider_as_a_registered_template(
        provider: Provider, config_dir: Path, database_url: str) -> None:
    """A red warning waiting for approval pages the approver on duty: through a domestic provider that
    reminder too must be a registered template (reminder.approval_reminder), or nobody is woken."""
    from alerts.escalation import Escalator

    world = await events_world(config_dir, database_url)
    try:
        intake = await world.service.receive(sample_alert(level="red"), source="test")
        [draft_id] = intake.drafts.created
        report = await Escalator(world.service).run_once()
        [notice] = report.notices
        assert notice.reached == ["yjj.duty"], notice.missed
        [(code, text)] = provider.sent_to("+8613800000611")
        assert code == provider.code("reminder.approval_reminder")
        assert text.startswith(f"待审批提醒：暴雨红色预警科普消息第{draft_id}号已等待0分钟，预警")
        assert text.endswith("请值班审批人尽快登录应急科普审批控制台处理。")
    finally:
        await world.service.close()
