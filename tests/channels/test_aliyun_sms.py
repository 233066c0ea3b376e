"""Alibaba Cloud SMS through the official SDK against a local server that checks signatures as Aliyun does."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alerts.channels.base import Found, NotFound, Ok, Paused, Permanent, Retry
from alerts.channels.sms.aliyun import AliyunClient, endpoint_config
from tests.channels import aliyun_server
from tests.channels.sms_support import (
    PARAMS,
    START,
    TEMPLATE,
    aliyun_fake,
    aliyun_provider,
    channel,
    items,
    message,
    phones,
    registry,
    text_of,
)


@pytest.fixture(autouse=True)
def _no_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")


@pytest.fixture
async def aliyun() -> AsyncIterator[tuple[aliyun_server.AliyunServer, str]]:
    server = aliyun_fake(registry())
    runner, url = await aliyun_server.start(server)
    try:
        yield server, url
    finally:
        await runner.cleanup()


async def test_a_batch_goes_out_as_the_registered_template_code_with_string_parameters(
        aliyun: tuple[Any, str], database: Any) -> None:
    server, url = aliyun
    reg = registry()
    mid = await message(database, reg)
    sms = channel([aliyun_provider(reg, url)], reg, database)
    outcomes = await sms.send_batch(items(mid, phones(2500)))
    assert all(isinstance(o, Ok) for o in outcomes)
    # 2,500 numbers of one message: three SendSms calls (1,000 + 1,000 + 500), one delivery row each.
    assert server.calls == [("SendSms", 1000), ("SendSms", 1000), ("SendSms", 500)]
    assert server.refused_signatures == 0
    assert {s.code for s in server.sent} == {reg.get("aliyun", TEMPLATE).code}
    assert {s.content for s in server.sent} == {text_of(reg)}
    ids = {o.provider_id for o in outcomes}
    assert len(ids) == 2500 and all(i.startswith("aliyun:") for i in ids)
    await sms.close()


async def test_one_number_over_its_frequency_limit_does_not_stop_the_others(aliyun: tuple[Any, str],
                                                                             database: Any) -> None:
    server, url = aliyun
    server.per_minute = 1
    reg = registry()
    mid = await message(database, reg)
    sms = channel([aliyun_provider(reg, url)], reg, database)
    busy = phones(1, start=500)
    assert isinstance((await sms.send_batch(items(mid, busy, first_id=9000)))[0], Ok)
    # Aliyun refuses a whole call when one of its numbers is over the limit; the channel halves the call
    # until that number stands alone, so the 599 others go out at once.
    batch = phones(600)
    outcomes = await sms.send_batch(items(mid, batch))
    limited = [o for p, o in zip(batch, outcomes, strict=True) if p == busy[0]]
    assert isinstance(limited[0], Retry) and limited[0].code == "frequency_limit" and limited[0].after == 60
    assert sum(isinstance(o, Ok) for o in outcomes) == 599
    assert len({s.phone for s in server.sent}) == 600  # each number once: none sent twice by the halving
    await sms.close()


async def test_a_wrong_secret_is_refused_by_the_signature_check_and_pauses_the_channel(
        aliyun: tuple[Any, str], database: Any) -> None:
    server, url = aliyun
    reg = registry()
    mid = await message(database, reg)
    provider = aliyun_provider(reg, url)
    provider.client = AliyunClient(access_key_id=aliyun_server.ACCESS_KEY_ID, access_key_secret="not-the-secret",
                                   endpoint=url, timeout=5)
    sms = channel([provider], reg, database)
    [outcome] = await sms.send_batch(items(mid, phones(1)))
    assert isinstance(outcome, Paused) and outcome.code == "SignatureDoesNotMatch"
    assert server.refused_signatures == 1 and not server.sent
    await sms.close()


async def test_throttling_is_retried_shortly_then_the_batch_goes_out(aliyun: tuple[Any, str], database: Any) -> None:
    server, url = aliyun
    server.plan = [(400, "Throttling.User", "Request was denied due to user flow control.")]
    reg = registry()
    mid = await message(database, reg)
    sms = channel([aliyun_provider(reg, url)], reg, database)
    outcomes = await sms.send_batch(items(mid, phones(3)))
    assert all(isinstance(o, Ok) for o in outcomes) and len(server.sent) == 3
    await sms.close()


async def test_a_text_that_is_not_the_registered_wording_is_never_sent(aliyun: tuple[Any, str],
                                                                        database: Any) -> None:
    server, url = aliyun
    reg = registry()
    mid = await message(database, reg, text=text_of(reg) + "另有改动")
    sms = channel([aliyun_provider(reg, url)], reg, database)
    [outcome] = await sms.send_batch(items(mid, phones(1)))
    assert isinstance(outcome, Permanent) and "registered wording" in outcome.reason
    assert server.requests == 0
    await sms.close()


async def test_reconcile_finds_what_was_sent_and_nothing_else(aliyun: tuple[Any, str], database: Any) -> None:
    server, url = aliyun
    reg = registry()
    mid = await message(database, reg)
    sms = channel([aliyun_provider(reg, url)], reg, database)
    [sent, unsent] = items(mid, phones(2))
    await sms.send_batch([sent])
    since = START.replace(year=2020)
    found = await sms.reconcile(sent, since=since)
    assert isinstance(found, Found) and found.provider_status == "sent"
    assert isinstance(await sms.reconcile(unsent, since=since), NotFound)
    await sms.close()


def test_the_endpoint_may_be_a_host_or_a_full_url() -> None:
    assert endpoint_config(None) == ("https", "dysmsapi.aliyuncs.com")
    assert endpoint_config("http://127.0.0.1:9000") == ("http", "127.0.0.1:9000")
    assert endpoint_config("sms-gw.example.cn") == ("https", "sms-gw.example.cn")
    with pytest.raises(ValueError, match="ALERTS_ALIYUN_SMS_ENDPOINT"):
        endpoint_config("ftp://x")


def test_parameters_are_sent_as_a_json_object_of_strings() -> None:
    registered = registry().get("aliyun", TEMPLATE)
    assert registered is not None
    values = registered.provider_params(PARAMS)
    assert json.loads(json.dumps(values)) == PARAMS and all(isinstance(v, str) for v in values.values())  # type: ignore[union-attr]


async def test_small_messages_of_one_template_with_different_variables_share_a_send_batch_sms_call(
        aliyun: tuple[Any, str], database: Any) -> None:
    server, url = aliyun
    reg = registry()
    north = await message(database, reg, params={**PARAMS, "areas": "高平市北部"})
    south = await message(database, reg, params={**PARAMS, "areas": "高平市南部"})
    sms = channel([aliyun_provider(reg, url)], reg, database)
    batch = items(north, phones(3)) + items(south, phones(2, start=50), first_id=50)
    outcomes = await sms.send_batch(batch)
    assert all(isinstance(o, Ok) for o in outcomes)
    assert server.calls == [("SendBatchSms", 5)]
    contents = {s.phone: s.content for s in server.sent}
    assert "（高平市北部）" in contents["13900000000"] and "（高平市南部）" in contents["13900000050"]
    await sms.close()


async def test_numbers_in_provider_messages_are_masked(aliyun: tuple[Any, str], database: Any) -> None:
    server, url = aliyun
    server.plan = [(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号: 13900000000")]
    reg = registry()
    mid = await message(database, reg)
    sms = channel([aliyun_provider(reg, url)], reg, database)
    [outcome] = await sms.send_batch(items(mid, phones(1)))
    assert isinstance(outcome, Permanent) and outcome.code == "isv.MOBILE_NUMBER_ILLEGAL"
    assert "13900000000" not in outcome.reason and "139****0000" in outcome.reason
    await sms.close()
