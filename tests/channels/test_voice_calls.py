"""Read-out calls through the real SDKs to local provider servers: a red warning calls the residents
flagged for voice (Aliyun SingleCallByTts with the registered TTS code; Twilio calls.create with TwiML),
an unanswered call is placed again and then given up, and a pressed 1 acknowledges 叫应 (via voice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from alerts.store.tables import ack_attempts, ack_requests, deliveries, messages, residents
from tests.channels import aliyun_voice_server, fake_twilio
from tests.channels.aliyun_voice_server import AliyunVoiceServer
from tests.channels.voice_support import CALLOUT_CODE, VOICE_CODE, configure, voice_library
from tests.events.support import PUBLIC, events_world
from tests.web.conftest import serve
from tests.workflow.support import World, sample_alert

TOKEN = "voice-callback-token-0123"
MISHAN_HEAD = "+8613900001001"


async def approve(world: World, draft_id: int) -> None:
    decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    if decision.state == "pending":
        decision = await world.service.actions.approve(world.users["zhao.approver"], draft_id, origin="test")
    assert decision.state == "dispatching", decision


async def red_warning(world: World) -> tuple[int, Any, list[str]]:
    """Everyone flagged for calls; a red warning approved and dispatched. (draft, voice message, callees)."""
    async with world.service.db.write() as conn:
        await conn.execute(update(residents).values(voice=True))
    intake = await world.service.receive(sample_alert(level="red"), source="test")
    draft_id = intake.drafts.created[0]
    await approve(world, draft_id)
    await world.service.worker.drain()
    async with world.service.db.read() as conn:
        spoken = (await conn.execute(select(messages).where(messages.c.draft_id == draft_id)
                                     .where(messages.c.channel == "voice"))).one()
        inside = [r.phone for r in await conn.execute(select(residents.c.phone).where(
            residents.c.area.in_(list(spoken.areas))))]
    assert len(inside) >= 2, "the demo residents inside the warning's area"
    return draft_id, spoken, sorted(inside)


async def voice_rows(world: World) -> dict[str, Any]:
    async with world.service.db.read() as conn:
        return {r.address: r for r in await conn.execute(select(deliveries).where(deliveries.c.channel == "voice"))}


async def callout_via(world: World, phone: str) -> list[tuple[str, str | None]]:
    async with world.service.db.read() as conn:
        ids = {r.request_id for r in await conn.execute(select(ack_attempts.c.request_id)
                                                        .where(ack_attempts.c.phone == phone))}
        return [(r.state, r.ack_via) for r in await conn.execute(select(ack_requests)
                                                                  .where(ack_requests.c.id.in_(ids)))]


# --- Alibaba Cloud ---------------------------------------------------------------------------------

@pytest.fixture
async def aliyun(monkeypatch: pytest.MonkeyPatch, config_dir: Path, tmp_path: Path) -> AsyncIterator[AliyunVoiceServer]:
    wordings = configure(config_dir, voice_library(tmp_path), "aliyun")
    server = AliyunVoiceServer(templates=wordings)
    runner, url = await aliyun_voice_server.start(server)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", aliyun_voice_server.ACCESS_KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", aliyun_voice_server.ACCESS_KEY_SECRET)
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("ALERTS_ALIYUN_VOICE_ENDPOINT", url)
    monkeypatch.setenv("ALERTS_SMS_CALLBACK_TOKEN", TOKEN)
    monkeypatch.delenv("ALERTS_VOICE_PROVIDER", raising=False)
    try:
        yield server
    finally:
        await runner.cleanup()


async def test_a_red_warning_calls_flagged_residents_through_aliyun_retries_then_stops(
        aliyun: AliyunVoiceServer, config_dir: Path, database_url: str) -> None:
    world = await events_world(config_dir, database_url)
    aliyun.clock = lambda: world.clock.now().timestamp()  # the provider's per-callee limits on the test clock
    served, runner = await serve(world)
    try:
        draft_id, spoken, inside = await red_warning(world)
        rows = await voice_rows(world)
        assert sorted(rows) == inside and {r.state for r in rows.values()} == {"sent"}
        # The registered TTS code, the variables as drafted, read twice; our reference is the delivery.
        assert sorted("+86" + p.number for p in aliyun.placed) == inside
        for p in aliyun.placed:
            row = rows["+86" + p.number]
            assert (p.code, p.text, p.params, p.out_id, p.play_times) == (
                VOICE_CODE, spoken.text, spoken.params, f"d{row.id}", "2")
            assert row.provider_id == f"aliyun-voice:{p.call_id}"

        hook = f"{served.base}/hooks/aliyun/voice/report/{TOKEN}"
        answered, silent = aliyun.placed[0], aliyun.placed[1]
        status, answer = await aliyun.push(hook, [aliyun.report(answered, answered=True, dtmf="1"),
                                                  aliyun.report(silent, answered=False)])
        assert (status, answer) == (200, {"code": 0, "msg": "接收成功"})
        rows = await voice_rows(world)
        assert rows["+86" + answered.number].state == "delivered"
        again = rows["+86" + silent.number]
        assert (again.state, again.error_code) == ("queued", "no_answer")
        assert again.next_attempt_at == world.clock.now() + timedelta(minutes=3)

        # Not before the interval; then the same call again, twice, and no more.
        await world.service.worker.drain()
        assert len(aliyun.placed) == len(inside)
        for attempt in (2, 3):
            world.clock.advance(minutes=3)
            await world.service.worker.drain()
            calls = [p for p in aliyun.placed if p.number == silent.number]
            assert len(calls) == attempt
            await aliyun.push(hook, [aliyun.report(calls[-1], answered=False)])
        world.clock.advance(minutes=3)
        await world.service.worker.drain()
        assert len([p for p in aliyun.placed if p.number == silent.number]) == 3
        final = (await voice_rows(world))["+86" + silent.number]
        assert (final.state, final.error_code, final.attempts) == ("failed", "no_answer", 3)

        # The console shows the calls where the SMS are shown.
        from tests.web.conftest import login

        http = await login(served.base, "liu.observer")
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        await http.close()
        assert "语音电话" in page and "已送达" in page.split("语音电话", 1)[1]

        # A wrong token is refused before anything is read.
        async with aiohttp.ClientSession() as s, s.post(hook.replace(TOKEN, "x" * len(TOKEN)), json=[]) as r:
            assert r.status == 403
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_press_1_on_an_aliyun_callout_call_acknowledges_it_via_voice(
        aliyun: AliyunVoiceServer, config_dir: Path, database_url: str) -> None:
    world = await events_world(config_dir, database_url)
    aliyun.clock = lambda: world.clock.now().timestamp()
    served, runner = await serve(world)
    try:
        await red_warning(world)
        await world.service.events.run_once()  # 叫应: the first notices go by SMS
        world.clock.advance(minutes=10)
        await world.service.events.run_once()  # silence: called again, by voice now
        calls = [p for p in aliyun.placed if p.code == CALLOUT_CODE and "+86" + p.number == MISHAN_HEAD]
        assert calls and calls[0].params["text"], "the 叫应 notice read through the registered callout template"
        assert await callout_via(world, MISHAN_HEAD) == [("waiting", None)]
        await aliyun.push(f"{served.base}/hooks/aliyun/voice/report/{TOKEN}",
                          [aliyun.report(calls[0], answered=True, dtmf="1")])
        assert await callout_via(world, MISHAN_HEAD) == [("acknowledged", "voice")]
    finally:
        await runner.cleanup()
        await world.service.close()


# --- Twilio ----------------------------------------------------------------------------------------

@pytest.fixture
async def twilio(monkeypatch: pytest.MonkeyPatch, config_dir: Path,
                 tmp_path: Path) -> AsyncIterator[tuple[fake_twilio.FakeTwilio, str]]:
    configure(config_dir, voice_library(tmp_path), "twilio")
    fake = fake_twilio.FakeTwilio()
    runner, url = await fake_twilio.start(fake)
    monkeypatch.setenv("TWILIO_VOICE_FROM", "+13125550100")
    monkeypatch.delenv("ALERTS_VOICE_PROVIDER", raising=False)
    try:
        yield fake, url
    finally:
        await runner.cleanup()


class Signed:
    """Posts to our Twilio hooks as Twilio does: signed over the public URL and the form."""

    def __init__(self, base: str):
        self.base = base

    async def post(self, path: str, form: dict[str, str], *, token: str = fake_twilio.AUTH_TOKEN) -> tuple[int, str]:
        signature = RequestValidator(token).compute_signature(PUBLIC + path, form)
        async with aiohttp.ClientSession() as s, s.post(self.base + path, data=form,
                                                        headers={"X-Twilio-Signature": signature}) as r:
            return r.status, await r.text()


def _hook(url: str) -> str:
    return url.removeprefix(PUBLIC)


async def test_a_red_warning_calls_through_twilio_and_press_1_acknowledges(
        twilio: tuple[fake_twilio.FakeTwilio, str], config_dir: Path, database_url: str) -> None:
    fake, url = twilio
    world = await events_world(config_dir, database_url, env={
        "TWILIO_ACCOUNT_SID": fake_twilio.ACCOUNT_SID, "TWILIO_AUTH_TOKEN": fake_twilio.AUTH_TOKEN,
        "ALERTS_TWILIO_API_BASE_URL": url})
    served, runner = await serve(world)
    hooks = Signed(served.base)
    try:
        _draft_id, spoken, inside = await red_warning(world)
        rows = await voice_rows(world)
        assert sorted(c.to for c in fake.calls) == inside and {r.state for r in rows.values()} == {"sent"}
        call = fake.calls[0]
        row = rows[call.to]
        # Read in Mandarin twice, one key gathered; status and key come back to our signed hooks.
        assert call.caller == "+13125550100" and row.provider_id == call.sid
        assert call.twiml.count('<Say language="cmn-CN">') >= 2 and spoken.text in call.twiml
        assert '<Gather action="' in call.twiml and 'numDigits="1"' in call.twiml and "按1" in call.twiml
        assert call.status_callback == f"{PUBLIC}/hooks/twilio/voice/status?d={row.id}"

        # No answer: placed again after the interval.
        status, _ = await hooks.post(_hook(call.status_callback), {"CallSid": call.sid, "CallStatus": "no-answer",
                                                                   "To": call.to})
        assert status == 200
        assert (await voice_rows(world))[call.to].state == "queued"
        world.clock.advance(minutes=3)
        await world.service.worker.drain()
        second = [c for c in fake.calls if c.to == call.to][-1]
        assert second.sid != call.sid
        await hooks.post(_hook(second.status_callback), {"CallSid": second.sid, "CallStatus": "completed",
                                                         "To": call.to})
        assert (await voice_rows(world))[call.to].state == "delivered"
        # A wrongly signed callback is refused.
        status, _ = await hooks.post(_hook(second.status_callback), {"CallSid": second.sid, "CallStatus": "failed"},
                                     token="not-the-auth-token-0000000000000")
        assert status == 403

        # 叫应: silence is followed by a call; pressing 1 acknowledges it, via voice.
        await world.service.events.run_once()
        world.clock.advance(minutes=10)
        await world.service.events.run_once()
        head = [c for c in fake.calls if c.to == MISHAN_HEAD]
        assert head, "the township head is called after 10 silent minutes"
        gather = head[0].twiml.split('<Gather action="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        status, text = await hooks.post(_hook(gather), {"CallSid": head[0].sid, "Digits": "1", "To": MISHAN_HEAD})
        assert status == 200 and "已确认收到" in text
        assert await callout_via(world, MISHAN_HEAD) == [("acknowledged", "voice")]
    finally:
        await runner.cleanup()
        await world.service.close()


async def test_calls_start_at_the_voice_level_and_never_for_a_drill(
        config_dir: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    configure(config_dir, voice_library(tmp_path), "log")
    monkeypatch.delenv("ALERTS_VOICE_PROVIDER", raising=False)
    channels = config_dir / "channels.yaml"
    data = yaml.safe_load(channels.read_text(encoding="utf-8"))
    data["voice"]["min_level"] = "red"
    channels.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    world = await events_world(config_dir, database_url)
    try:
        async with world.service.db.write() as conn:
            await conn.execute(update(residents).values(voice=True))

        async def calls_for(alert: bytes) -> tuple[int, int]:
            intake = await world.service.receive(alert, source="test")
            draft_id = intake.drafts.created[0]
            await approve(world, draft_id)
            await world.service.worker.drain()
            async with world.service.db.read() as conn:
                spoken = (await conn.execute(select(messages.c.id).where(messages.c.draft_id == draft_id)
                                             .where(messages.c.channel == "voice"))).all()
                calls = (await conn.execute(select(deliveries.c.id).where(deliveries.c.channel == "voice")
                                            .where(deliveries.c.message_id.in_([m.id for m in spoken])))).all()
            return len(spoken), len(calls)

        assert await calls_for(sample_alert(level="orange")) == (1, 0), "orange is below voice.min_level red"
        assert await calls_for(sample_alert(level="red", identifier="14058141600000_20260712070000",
                                            status="Exercise")) == (1, 0), "a drill calls nobody"
        spoken, calls = await calls_for(sample_alert(level="red", identifier="14058141600000_20260712080000"))
        assert spoken == 1 and calls >= 2
    finally:
        await world.service.close()
