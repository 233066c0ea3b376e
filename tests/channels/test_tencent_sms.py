"""Tencent Cloud SMS through the official SDK's asyncio client against a local TC3-checking server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from alerts.channels.base import Ok, Paused, Permanent, Retry
from alerts.channels.sms import receipts
from alerts.channels.sms.tencent import TencentClient, http_profile
from tests.channels import tencent_server
from tests.channels.sms_support import (
    PARAMS,
    START,
    TEMPLATE,
    channel,
    items,
    message,
    phones,
    registry,
    tencent_fake,
    tencent_provider,
)


@pytest.fixture
async def tencent() -> AsyncIterator[tuple[tencent_server.TencentServer, str]]:
    server = tencent_fake(registry())
    runner, url = await tencent_server.start(server)
    try:
        yield server, url
    finally:
        await runner.cleanup()


async def test_a_batch_goes_out_in_calls_of_200_with_positional_string_parameters(
        tencent: tuple[Any, str], database: Any) -> None:
    server, url = tencent
    reg = registry()
    mid = await message(database, reg)
    sms = channel([tencent_provider(reg, url)], reg, database)
    outcomes = await sms.send_batch(items(mid, phones(450)))
    assert all(isinstance(o, Ok) for o in outcomes) and server.requests == 3  # 200 + 200 + 50
    registered = reg.get("tencent", TEMPLATE)
    assert registered is not None and registered.provider_params(PARAMS) == ["暴雨", "橙色", "高平市", "高平市气象台", "12日10时",
                                                                        "解除时另行通知"]
    assert {s.template for s in server.sent} == {registered.code}
    assert {s.content for s in server.sent} == {registered.fill(PARAMS)}
    assert server.refused_signatures == 0
    assert len({o.provider_id for o in outcomes}) == 450
    await sms.close()


async def test_a_number_over_its_limit_is_retried_after_the_window_and_the_rest_go_out(
        tencent: tuple[Any, str], database: Any) -> None:
    server, url = tencent
    server.per_30s = 1
    reg = registry()
    mid = await message(database, reg)
    sms = channel([tencent_provider(reg, url)], reg, database)
    await sms.send_batch(items(mid, phones(1, start=7), first_id=900))
    outcomes = await sms.send_batch(items(mid, phones(20)))
    limited = outcomes[7]
    assert isinstance(limited, Retry) and limited.code == "frequency_limit" and limited.after == 30
    assert sum(isinstance(o, Ok) for o in outcomes) == 19
    await sms.close()


async def test_a_wrong_secret_key_fails_the_tc3_check_and_pauses(tencent: tuple[Any, str], database: Any) -> None:
    server, url = tencent
    reg = registry()
    mid = await message(database, reg)
    provider = tencent_provider(reg, url)
    await provider.client.close()
    provider.client = TencentClient(secret_id=tencent_server.SECRET_ID, secret_key="wrong", endpoint=url,
                                    region="ap-guangzhou", sdk_app_id=tencent_server.APP_ID, timeout=5)
    sms = channel([provider], reg, database)
    [outcome] = await sms.send_batch(items(mid, phones(1)))
    assert isinstance(outcome, Paused) and outcome.code == "AuthFailure.SignatureFailure"
    assert server.refused_signatures == 1 and not server.sent
    await sms.close()


async def test_an_invalid_number_fails_alone(tencent: tuple[Any, str], database: Any) -> None:
    server, url = tencent
    reg = registry()
    mid = await message(database, reg)
    sms = channel([tencent_provider(reg, url)], reg, database)
    # +861 followed by ten digits is a mainland mobile to us; the provider's own check is stricter here.
    outcomes = await sms.send_batch(items(mid, ["+8613900000001", "+8610000000000"]))
    assert isinstance(outcomes[0], Ok)
    assert isinstance(outcomes[1], Permanent) and "IncorrectPhoneNumber" in outcomes[1].code
    await sms.close()


async def test_pulled_statuses_mark_deliveries(tencent: tuple[Any, str], database: Any) -> None:
    server, url = tencent
    reg = registry()
    mid = await message(database, reg)
    provider = tencent_provider(reg, url)
    sms = channel([provider], reg, database)
    await sms.send_batch(items(mid, phones(3)))
    pulled = await provider.client.pull_status()
    reports = receipts.tencent_reports(pulled)
    assert [r.delivered for r in reports] == [True, True, True]
    assert {r.provider_id for r in reports} == {f"tencent:{s.serial}" for s in server.sent}
    async with database.write() as conn:
        applied = await receipts.apply_reports(conn, reports, now=START)
    assert applied.received == 3  # no delivery rows in this test: counted for the failover only
    await sms.close()


def test_an_http_endpoint_gives_the_sdk_the_scheme_too() -> None:
    profile = http_profile("http://127.0.0.1:9001", 5)
    assert (profile.scheme, profile.endpoint) == ("http", "127.0.0.1:9001")
    assert http_profile(None, 5).endpoint == "sms.tencentcloudapi.com" and http_profile(None, 5).scheme == "https"
    with pytest.raises(ValueError, match="ALERTS_TENCENT_SMS_ENDPOINT"):
        http_profile("gopher://x", 5)
