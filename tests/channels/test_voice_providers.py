"""The voice providers on their own: Aliyun's answers mapped to the outbox's outcomes (the account's
faults pause, the callee's limits retry after their window), the SDK's signature checked by the local
server, VoiceReport entries read, and the TwiML Twilio gets."""

from __future__ import annotations

import pytest

from alerts.channels.base import Ok, Paused, Permanent, Retry
from alerts.channels.sms.aliyun import AliyunError
from alerts.channels.sms.templates import Registered
from alerts.channels.voice.aliyun import AliyunVoiceClient, AliyunVoiceProvider, endpoint_config, outcome_of
from alerts.channels.voice.receipts import aliyun_report
from alerts.channels.voice.registry import AliyunVoiceAccount
from alerts.channels.voice.twilio_voice import twiml
from tests.channels import aliyun_voice_server
from tests.channels.aliyun_voice_server import AliyunVoiceServer

REGISTERED = Registered("aliyun", "t.voice", "TTS_1", "${issuer}发布了暴雨红色预警。", ("issuer",))


def test_provider_errors_are_the_accounts_or_the_callees() -> None:
    minute = outcome_of(AliyunError("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"))
    hour = outcome_of(AliyunError("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"))
    assert isinstance(minute, Retry) and minute.after == 60 and minute.code == "frequency_limit"
    assert isinstance(hour, Retry) and hour.after == 3600
    assert isinstance(outcome_of(AliyunError("isv.MOBILE_NUMBER_ILLEGAL", "bad number 13800138000")), Permanent)
    assert "138****8000" in outcome_of(AliyunError("isv.MOBILE_NUMBER_ILLEGAL", "bad 13800138000")).reason  # type: ignore[union-attr]
    for code in ("isv.AMOUNT_NOT_ENOUGH", "InvalidAccessKeyId.NotFound", "isv.CALLED_SHOW_NUMBER_ILLEGAL"):
        assert isinstance(outcome_of(AliyunError(code, "")), Paused), code
    assert isinstance(outcome_of(AliyunError("Throttling.User", "", 400)), Retry)
    assert isinstance(outcome_of(AliyunError("isv.TTS_TEMPLATE_ILLEGAL", "")), Permanent)


def test_the_endpoint_may_be_a_local_http_server() -> None:
    assert endpoint_config(None) == ("https", "dyvmsapi.aliyuncs.com")
    assert endpoint_config("http://127.0.0.1:9102") == ("http", "127.0.0.1:9102")
    with pytest.raises(ValueError, match="ALERTS_ALIYUN_VOICE_ENDPOINT"):
        endpoint_config("ftp://x")


@pytest.mark.parametrize("secret, expected", [(aliyun_voice_server.ACCESS_KEY_SECRET, Ok),
                                              ("not-the-secret", Paused)])
async def test_the_sdk_call_is_signed_and_a_wrong_secret_pauses_the_channel(
        secret: str, expected: type, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    server = AliyunVoiceServer(templates={"TTS_1": REGISTERED.text})
    runner, url = await aliyun_voice_server.start(server)
    try:
        client = AliyunVoiceClient(access_key_id=aliyun_voice_server.ACCESS_KEY_ID, access_key_secret=secret,
                                   endpoint=url, timeout=5)
        provider = AliyunVoiceProvider(client, AliyunVoiceAccount())
        outcome = await provider.call("+8613800138000", REGISTERED, {"issuer": "高平市气象台"}, out_id="d7")
        assert isinstance(outcome, expected), outcome
        if expected is Ok:
            placed = server.placed[0]
            assert (placed.number, placed.text, placed.out_id) == ("13800138000", "高平市气象台发布了暴雨红色预警。", "d7")
            # The provider's limit: one call a minute to the same callee.
            again = await provider.call("+8613800138000", REGISTERED, {"issuer": "高平市气象台"}, out_id="d7")
            assert isinstance(again, Retry) and again.code == "frequency_limit"
        else:
            assert server.refused_signatures == 1 and not server.placed
    finally:
        await runner.cleanup()


def test_voice_reports_are_read_as_answered_or_not() -> None:
    server = AliyunVoiceServer(templates={})
    from tests.channels.aliyun_voice_server import Placed

    placed = Placed("1^2", "13800138000", "TTS_1", {}, "", "d42", "2", "")
    heard = aliyun_report(server.report(placed, answered=True, dtmf="1"))
    missed = aliyun_report(server.report(placed, answered=False))
    assert (heard.delivery_id, heard.answered, heard.keys, heard.provider_id) == (42, True, "1", "aliyun-voice:1^2")
    assert (missed.answered, missed.final) == (False, True)
    assert aliyun_report({"call_id": "9", "out_id": "e", "status_code": "200002"}).delivery_id is None


def test_the_twiml_reads_the_text_twice_in_mandarin_and_gathers_one_key() -> None:
    xml = twiml("暴雨红色预警。", "https://alerts.example/hooks/twilio/voice/gather?d=5")
    assert xml.count('<Say language="cmn-CN">') == 3 and xml.count("暴雨红色预警。") == 2
    assert 'numDigits="1"' in xml and "按1" in xml
    assert "<Gather" not in twiml("暴雨红色预警。", None)
