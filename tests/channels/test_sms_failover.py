"""Failover between domestic providers, both ways, with operator problems; never a delivery sent twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alerts.channels.base import Ok, Retry
from alerts.channels.sms import receipts
from alerts.channels.sms.channel import SmsChannel
from alerts.store import problems
from tests.channels import aliyun_server, tencent_server
from tests.channels.sms_support import (
    START,
    aliyun_fake,
    aliyun_provider,
    channel,
    items,
    message,
    phones,
    registry,
    tencent_fake,
    tencent_provider,
)


@pytest.fixture(autouse=True)
def _no_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, Any]]:
    reg = registry()
    ali, tc = aliyun_fake(reg), tencent_fake(reg)
    ali_runner, ali_url = await aliyun_server.start(ali)
    tc_runner, tc_url = await tencent_server.start(tc)
    try:
        yield {"aliyun": ali, "tencent": tc, "aliyun_url": ali_url, "tencent_url": tc_url, "registry": reg}
    finally:
        await ali_runner.cleanup()
        await tc_runner.cleanup()


class Ticks:
    """The health windows' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def both(s: dict[str, Any], db: Any, order: tuple[str, str] = ("aliyun", "tencent"), **kw: Any) -> SmsChannel:
    reg = s["registry"]
    make = {"aliyun": lambda: aliyun_provider(reg, s["aliyun_url"], timeout=kw.pop("timeout", 5.0)),
            "tencent": lambda: tencent_provider(reg, s["tencent_url"])}
    sms = channel([make[n]() for n in order], reg, db, **kw)
    sms.health.monotonic = Ticks()
    return sms


async def problem(db: Any, key: str) -> problems.Problem | None:
    async with db.read() as conn:
        return await problems.get(conn, key)


async def test_aliyun_failing_moves_new_sends_to_tencent_and_back_when_healthy(servers: dict[str, Any],
                                                                                database: Any) -> None:
    ali, tc = servers["aliyun"], servers["tencent"]
    mid = await message(database, servers["registry"])
    sms = both(servers, database)
    ali.plan = [(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")] * 2
    outcomes = await sms.send_batch(items(mid, phones(5)))
    assert all(isinstance(o, Ok) and o.provider_id.startswith("tencent:") for o in outcomes)
    assert ali.requests == 2 and not ali.sent  # the first call and one short retry, then the next provider
    opened = await problem(database, "sms:failover:aliyun")
    assert opened is not None and opened.resolved_at is None and opened.kind == "failover"
    # Within its window Aliyun is left alone: the next sends go straight to Tencent.
    await sms.send_batch(items(mid, phones(5, start=100), first_id=100))
    assert ali.requests == 2 and len(tc.sent) == 10
    # After the window it is tried again first; it answers, so sends go back and the problem closes.
    sms.health.monotonic.now += 60  # type: ignore[attr-defined]
    outcomes = await sms.send_batch(items(mid, phones(5, start=200), first_id=200))
    assert all(o.provider_id.startswith("aliyun:") for o in outcomes)  # type: ignore[union-attr]
    closed = await problem(database, "sms:failover:aliyun")
    assert closed is not None and closed.resolved_at is not None
    await sms.close()


async def test_tencent_failing_moves_new_sends_to_aliyun(servers: dict[str, Any], database: Any) -> None:
    ali, tc = servers["aliyun"], servers["tencent"]
    mid = await message(database, servers["registry"])
    sms = both(servers, database, order=("tencent", "aliyun"))
    tc.plan = [("InternalError", "an internal error occurred")] * 2
    outcomes = await sms.send_batch(items(mid, phones(4)))
    assert all(isinstance(o, Ok) and o.provider_id.startswith("aliyun:") for o in outcomes)
    assert not tc.sent and len(ali.sent) == 4
    assert (await problem(database, "sms:failover:tencent")) is not None
    await sms.close()


async def test_a_high_undelivered_rate_moves_sends_until_the_window_passes(servers: dict[str, Any],
                                                                           database: Any) -> None:
    ali, tc = servers["aliyun"], servers["tencent"]
    mid = await message(database, servers["registry"])
    sms = both(servers, database, min_receipts=10)
    await sms.send_batch(items(mid, phones(40)))
    failed = {s.phone for s in ali.sent[:10]}  # 10 of 40 undelivered: 25 % > 15 %
    async with database.write() as conn:
        await receipts.apply_reports(conn, receipts.aliyun_reports(ali.reports(failed=failed)), now=START)
    await sms.health.refresh_rates(force=True)
    outcomes = await sms.send_batch(items(mid, phones(3, start=500), first_id=500))
    assert all(o.provider_id.startswith("tencent:") for o in outcomes)  # type: ignore[union-attr]
    opened = await problem(database, "sms:failover:aliyun")
    assert opened is not None and "undelivered" in opened.why
    sms.clock.advance(minutes=6)  # the receipts leave the 5-minute window
    await sms.health.refresh_rates(force=True)
    outcomes = await sms.send_batch(items(mid, phones(3, start=600), first_id=600))
    assert all(o.provider_id.startswith("aliyun:") for o in outcomes)  # type: ignore[union-attr]
    assert len(tc.sent) == 3
    await sms.close()


async def test_a_call_without_an_answer_is_reconciled_before_any_other_provider_sends(
        servers: dict[str, Any], database: Any) -> None:
    ali, tc = servers["aliyun"], servers["tencent"]
    mid = await message(database, servers["registry"])
    sms = both(servers, database, timeout=1.0)
    ali.delay = 1.5  # Aliyun takes the request, and answers too late
    batch = items(mid, phones(3))
    outcomes = await sms.send_batch(batch)
    assert all(isinstance(o, Retry) and o.code == "in_doubt" for o in outcomes)
    await asyncio.sleep(1.0)  # the late answer is written on Aliyun's side
    ali.delay = 0.0
    assert len(ali.sent) == 3
    # Tried again (the worker's retry): Aliyun's records show the sends, so they are not sent again.
    outcomes = await sms.send_batch(batch)
    assert all(isinstance(o, Ok) for o in outcomes)
    assert len(ali.sent) == 3 and not tc.sent
    await sms.close()


async def test_an_unanswered_call_that_did_not_arrive_goes_to_the_next_provider_after_reconciling(
        servers: dict[str, Any], database: Any) -> None:
    ali, tc = servers["aliyun"], servers["tencent"]
    mid = await message(database, servers["registry"])
    sms = both(servers, database, timeout=1.0)
    ali.delay, ali.record = 1.5, False  # this time Aliyun drops it
    batch = items(mid, phones(2))
    assert all(isinstance(o, Retry) for o in await sms.send_batch(batch))
    ali.delay = 0.0
    outcomes = await sms.send_batch(batch)
    # Aliyun has no record, and is left alone for its window: Tencent sends them, once.
    assert all(isinstance(o, Ok) and o.provider_id.startswith("tencent:") for o in outcomes)
    assert len(tc.sent) == 2
    await sms.close()


async def test_numbers_outside_the_mainland_and_a_last_resort_go_to_the_free_text_provider(
        servers: dict[str, Any], database: Any, tmp_path: Any) -> None:
    from alerts.channels.log import LogChannel
    from alerts.channels.sms.channel import FreeText

    ali = servers["aliyun"]
    reg = servers["registry"]
    mid = await message(database, reg)
    log = LogChannel(tmp_path / "outbox.log", name="sms", signature="【高平应急科普】")
    sms = channel([aliyun_provider(reg, servers["aliyun_url"]), FreeText("log", log)], reg, database)
    outcomes = await sms.send_batch(items(mid, ["+8613900000001", "+14155550100"]))
    assert outcomes[0].provider_id.startswith("aliyun:")  # type: ignore[union-attr]
    assert outcomes[1].provider_id.startswith("log-")  # type: ignore[union-attr]
    assert [s.phone for s in ali.sent] == ["13900000001"]
    await sms.close()
