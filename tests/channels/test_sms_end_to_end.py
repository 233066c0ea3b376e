"""The demo warning, approved, through ALERTS_SMS_PROVIDER=aliyun|tencent to a local provider server via the
current outbox worker; receipts and replies pushed to our hooks, shown in the console."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select

from alerts.channels.sms.channel import SmsChannel
from alerts.store import drafts as draft_store
from alerts.store.tables import deliveries, messages, residents
from alerts.workflow.policy import Refused
from tests.channels.sms_support import provider_selected, registry
from tests.web.conftest import login, serve
from tests.workflow.support import build_world

TOKEN = "callback-token-0123456789"


@pytest.fixture(params=["aliyun", "tencent"])
async def provider(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch,
                   config_dir: Path) -> AsyncIterator[tuple[str, Any]]:
    name = request.param
    async with provider_selected(name, monkeypatch, config_dir, TOKEN) as server:
        yield name, server


async def approve(world: Any, draft_id: int) -> None:
    decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    if decision.state == "pending":
        decision = await world.service.actions.approve(world.users["zhao.approver"], draft_id, origin="test")
    assert decision.state == "dispatching", decision


async def test_the_demo_warning_reaches_the_provider_and_receipts_show_in_the_console(
        provider: tuple[str, Any], config_dir: Path, database_url: str) -> None:
    name, server = provider
    world = await build_world(config_dir, database_url)
    served, runner = await serve(world)
    try:
        assert isinstance(world.service.channels["sms"], SmsChannel)
        draft_id = await world.ingest()
        await approve(world, draft_id)
        await world.service.worker.drain()
        async with world.service.db.read() as conn:
            rows = (await conn.execute(select(deliveries).where(deliveries.c.channel == "sms"))).all()
            sms_messages = (await conn.execute(select(messages).where(messages.c.draft_id == draft_id)
                                               .where(messages.c.channel == "sms"))).all()
        assert rows and all(r.state == "sent" and r.provider_id.startswith(f"{name}:") for r in rows)
        assert sms_messages and all("orange" in m.params.values() or "橙色" in m.params.values()
                                    for m in sms_messages)
        codes = {registry().get(name, m.template_id).code for m in sms_messages}  # type: ignore[union-attr]
        # The provider got the registered codes and the variables, and its texts are the approved ones.
        assert {s.code if name == "aliyun" else s.template for s in server.sent} == codes
        assert {s.content for s in server.sent} == {m.text for m in sms_messages}
        assert len(server.sent) == len(rows)

        # Receipts pushed by the provider (one undelivered), and a reply 退订.
        failed_phone = rows[0].address
        if name == "aliyun":
            hook = f"{served.base}/hooks/aliyun/sms/report/{TOKEN}"
            status, answer = await server.push(hook, server.reports(failed={failed_phone[3:]}))
            assert (status, answer) == (200, {"code": 0, "msg": "接收成功"})
            reply_hook, reply = f"{served.base}/hooks/aliyun/sms/reply/{TOKEN}", [
                {"phone_number": failed_phone[3:], "send_time": "2026-07-12 06:00:00", "content": "退订",
                 "sign_name": "高平应急科普", "dest_code": "1234", "sequence_id": 1}]
        else:
            hook = f"{served.base}/hooks/tencent/sms/status/{TOKEN}"
            status, answer = await server.push(hook, server.callbacks(failed={failed_phone}))
            assert (status, answer) == (200, {"result": 0, "errmsg": "OK"})
            reply_hook, reply = f"{served.base}/hooks/tencent/sms/reply/{TOKEN}", {
                "extend": "", "mobile": failed_phone[3:], "nationcode": "86", "sign": "高平应急科普", "text": "TD",
                "time": 1783800000}
        status, _ = await server.push(reply_hook, reply)
        assert status == 200
        async with world.service.db.read() as conn:
            states = {r.address: (r.state, r.error_code) for r in await conn.execute(select(deliveries))
                      if r.channel == "sms"}
            opted = (await conn.execute(select(residents.c.status).where(residents.c.phone == failed_phone))).scalar()
        assert states[failed_phone][0] == "failed" and states[failed_phone][1]
        assert all(s == "delivered" for a, (s, _) in states.items() if a != failed_phone)
        assert opted == "opted_out"

        http = await login(served.base, "liu.observer")
        async with http.get(f"{served.base}/sent") as r:
            page = await r.text()
        await http.close()
        assert "已送达" in page and f"<b>{len(rows) - 1}</b>" in page

        # Hooks refuse a wrong token before reading anything.
        async with aiohttp.ClientSession() as s, s.post(hook.replace(TOKEN, "x" * len(TOKEN)), json=[]) as r:
            assert r.status == 403
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_a_template_without_a_registered_code_is_refused_at_approval(
        provider: tuple[str, Any], config_dir: Path, database_url: str) -> None:
    name, _server = provider
    path = config_dir / "sms_providers.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("    rainstorm.orange.residents.sms:", "    unused.rainstorm.orange:"),
                    encoding="utf-8")
    world = await build_world(config_dir, database_url)
    try:
        draft_id = await world.ingest()
        with pytest.raises(Refused) as info:
            await approve(world, draft_id)
        assert info.value.status == 409
        assert "rainstorm.orange.residents.sms" in str(info.value) and "no registered" in str(info.value)
    finally:
        await world.service.close()


async def test_an_edit_inside_the_variables_is_sent_with_the_new_values_and_others_are_refused(
        provider: tuple[str, Any], config_dir: Path, database_url: str) -> None:
    name, server = provider
    world = await build_world(config_dir, database_url)
    try:
        draft_id = await world.ingest()
        record = await _draft(world, draft_id)
        sms = next(m for m in record.messages if m.channel == "sms")
        # Outside the variables: refused at approval with what to do.
        await world.service.actions.edit(world.users["li.editor"], draft_id, sms.id, sms.text + "请转告家人。",
                                         origin="test")
        await world.service.actions.review(world.users["chen.expert"], draft_id, origin="test")
        with pytest.raises(Refused) as info:
            await approve(world, draft_id)
        assert "registered wording" in str(info.value) and "undo the edit" in str(info.value)
        # Inside a variable (the area phrase): accepted, and sent with that value.
        edited = sms.text.replace("（", "（高平市南部", 1)
        await world.service.actions.edit(world.users["li.editor"], draft_id, sms.id, edited, origin="test")
        await world.service.actions.review(world.users["chen.expert"], draft_id, origin="test")
        await approve(world, draft_id)
        await world.service.worker.drain()
        assert edited in {s.content for s in server.sent}
    finally:
        await world.service.close()


async def _draft(world: Any, draft_id: int) -> Any:
    from alerts.store import drafts as draft_store

    async with world.service.db.read() as conn:
        return await draft_store.get(conn, draft_id)


async def test_receipts_the_pushes_missed_are_pulled(provider: tuple[str, Any], config_dir: Path,
                                                     database_url: str) -> None:
    from alerts.channels.sms.pull import pull_once

    name, server = provider
    world = await build_world(config_dir, database_url)
    try:
        draft_id = await world.ingest()
        await approve(world, draft_id)
        await world.service.worker.drain()
        if name == "aliyun":
            # The service runs on a test clock: the provider's records carry the same day as ours.
            for sent in server.sent:
                sent.at = world.clock.now().astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)
            server.reports()  # the provider has the reports; its push never reached us
            world.clock.advance(minutes=11)
        applied = await pull_once(world.service)
        async with world.service.db.read() as conn:
            states = [r.state for r in await conn.execute(select(deliveries)) if r.channel == "sms"]
        assert applied.matched == len(states) and set(states) == {"delivered"}
    finally:
        await world.service.close()


async def test_concurrent_warnings_are_not_combined_when_each_sms_must_be_registered_wording(
        provider: tuple[str, Any], config_dir: Path, database_url: str) -> None:
    """A combined text is written on the spot and no provider has it registered: offered, it could never
    be approved and the warnings it replaced would reach nobody. Each chain keeps its own registered SMS."""
    from tests.chain_support import doc, push

    name, server = provider
    world = await build_world(config_dir, database_url)
    try:
        rain = await push(world, doc("RAIN1", level="orange", towns=("米山镇", "三甲镇", "神农镇")))
        world.clock.advance(minutes=1)
        geo = await push(world, doc("GEO1", hazard="geological_hazard", level="yellow", towns=("三甲镇", "神农镇"),
                                    sent="2026-07-12 05:31:00+08:00"))
        assert geo.drafts.superseded == [] and len(geo.drafts.created) == 1
        async with world.service.db.read() as conn:
            pending = sorted(d.id for d in await draft_store.by_state(conn, ("pending",)))
        assert pending == sorted([rain.drafts.created[0], geo.drafts.created[0]])
        for draft_id in pending:
            await approve(world, draft_id)
        await world.service.worker.drain()
        assert all("同时有" not in s.content for s in server.sent)
        assert any(s.content.startswith("暴雨橙色预警") for s in server.sent)
        assert any("地质灾害" in s.content for s in server.sent)
    finally:
        await world.service.close()
