"""SMS through the real twilio library against a local Twilio-like server, via the outbox worker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from alerts.channels.twilio_sms import RebasedHttpClient, TwilioSmsChannel
from alerts.clock import ManualClock
from alerts.outbox.worker import Worker
from alerts.settings.channels import CampaignsSection, ChannelsConfig
from alerts.store.tables import deliveries, delivery_attempts, residents
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, start
from tests.outbox.helpers import add_residents, approved_draft, phone

START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeTwilio, str]]:
    server = FakeTwilio()
    runner, url = await start(server)
    try:
        yield server, url
    finally:
        await runner.cleanup()


def channel(url: str, *, timeout: float = 5.0, senders: list[str] | None = None,
            clock: ManualClock | None = None, token: str = AUTH_TOKEN) -> TwilioSmsChannel:
    return TwilioSmsChannel(account_sid=ACCOUNT_SID, auth_token=token,
                            messaging_service_sid=None if senders else MESSAGING_SERVICE_SID, senders=senders or [],
                            status_callback_base="https://alerts.example.cn", api_base_url=url,
                            messages_per_second=1000, burst=1000, concurrency=8, timeout=timeout, clock=clock)


def config(**outbox: Any) -> ChannelsConfig:
    return ChannelsConfig.model_validate({"outbox": {"batch_size": 50, **outbox},
                                          "retry": {"base_delay_seconds": 1, "campaign_max_attempts": 3}})


async def setup(database: Any, count: int) -> int:
    async with database.write() as conn:
        await add_residents(conn, count, at=START)
        draft_id, _ = await approved_draft(conn, at=START)
    return draft_id


async def rows(database: Any) -> dict[str, Any]:
    async with database.read() as conn:
        return {r.address: r for r in await conn.execute(select(deliveries))}


async def attempts(database: Any) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    async with database.read() as conn:
        for r in await conn.execute(select(delivery_attempts).order_by(delivery_attempts.c.id)):
            out.setdefault(r.delivery_id, []).append(r.outcome)
    return out


def test_the_base_url_replaces_scheme_and_host_only() -> None:
    client = RebasedHttpClient("http://127.0.0.1:9999/proxy", timeout=1, connections=1)
    assert client.rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1") == \
        "http://127.0.0.1:9999/proxy/2010-04-01/Accounts/AC1/Messages.json?x=1"
    assert RebasedHttpClient(None, timeout=1, connections=1).rebase("https://api.twilio.com/a") == \
        "https://api.twilio.com/a"


async def test_messages_are_sent_with_the_messaging_service_and_a_status_callback(database: Any, fake: Any) -> None:
    server, url = fake
    await setup(database, 30)
    sms = channel(url)
    worker = Worker(database, {"sms": sms}, config(), ManualClock(START))
    try:
        result = await worker.drain()
    finally:
        await sms.close()
    assert result.sent == 30 and result.failed == 0
    assert sorted(r.to for r in server.received) == sorted(phone(i) for i in range(30))
    got = await rows(database)
    for r in server.received:
        assert r.sender == MESSAGING_SERVICE_SID and r.body == "【高平应急科普】测试"
        row = got[r.to]
        assert row.state == "sent" and row.provider_id == r.sid and row.provider_status == "accepted"
        assert r.status_callback == f"https://alerts.example.cn/hooks/twilio/status?d={row.id}"
    assert all(a == ["ok"] for a in (await attempts(database)).values())


async def test_a_pool_of_sender_numbers_is_used_in_turn(database: Any, fake: Any) -> None:
    server, url = fake
    await setup(database, 10)
    sms = channel(url, senders=["+15005550006", "+15005550007"])
    try:
        await Worker(database, {"sms": sms}, config(), ManualClock(START)).drain()
    finally:
        await sms.close()
    used = [r.sender for r in server.received]
    assert sorted(set(used)) == ["+15005550006", "+15005550007"] and used.count("+15005550006") == 5


async def test_server_errors_are_retried_while_the_warning_is_in_force_and_never_after(
        database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 2, at=START)
        await approved_draft(conn, at=START, expires_at=START + timedelta(minutes=20))
    server.plan[phone(0)] = [(500, None), (503, 20503, "7")]
    server.plan[phone(1)] = [(500, None)] * 100
    clock = ManualClock(START)
    sms = channel(url, clock=clock)
    worker = Worker(database, {"sms": sms}, config(), clock)
    try:
        await worker.drain()
        await worker.drain()
        row = (await rows(database))[phone(0)]
        if row.state == "queued" and row.error_code == "20503":  # Retry-After: 7 is honoured exactly
            assert row.next_attempt_at == clock.now() + timedelta(seconds=7)
        for _ in range(40):
            clock.advance(seconds=45)
            await worker.drain()
    finally:
        await sms.close()
    got = await rows(database)
    assert got[phone(0)].state == "sent"
    assert (await attempts(database))[got[phone(0)].id] == ["retry", "retry", "ok"]
    # Far more attempts than any fixed count, then not one after the warning ended.
    assert got[phone(1)].state == "expired" and got[phone(1)].attempts > 8
    assert got[phone(1)].error.startswith(("its alert expired before it could be sent",
                                           "its alert ended before a retry could be sent: Twilio HTTP 500"))
    assert server.by_to[phone(1)] == 0


async def test_a_campaign_keeps_a_short_retry_budget(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START, kind="campaign", level=None, group_key="campaign:heat",
                             campaigns=CampaignsSection(quiet_hours=""))
    server.plan[phone(0)] = [(500, None)] * 10
    clock = ManualClock(START)
    sms = channel(url)
    worker = Worker(database, {"sms": sms}, config(), clock)
    try:
        for _ in range(6):
            await worker.drain()
            clock.advance(seconds=60)
    finally:
        await sms.close()
    row = (await rows(database))[phone(0)]
    assert (row.state, row.attempts) == ("failed", 3) and "gave up after 3 attempts" in row.error


async def test_per_number_errors_end_or_retry_only_that_delivery(database: Any, fake: Any) -> None:
    server, url = fake
    await setup(database, 10)
    server.plan[phone(0)] = [(400, 21211)]
    server.plan[phone(1)] = [(400, 21610)]
    server.plan[phone(2)] = [(400, 21614)]
    for i, code in zip(range(4, 8), (30004, 30005, 30006, 30007), strict=True):
        server.plan[phone(i)] = [(400, code)]
    server.plan[phone(8)] = [(400, 30003)]
    server.plan[phone(9)] = [(400, 30008)]
    sms = channel(url)
    try:
        await Worker(database, {"sms": sms}, config(), ManualClock(START)).drain()
    finally:
        await sms.close()
    got = await rows(database)
    assert (got[phone(0)].state, got[phone(0)].error_code) == ("failed", "21211")
    assert "invalid phone number" in got[phone(0)].error
    assert (got[phone(1)].state, got[phone(1)].error_code) == ("failed", "21610")
    assert (got[phone(2)].state, got[phone(2)].error_code) == ("failed", "21614")
    assert got[phone(3)].state == "sent"
    for i, code in zip(range(4, 8), ("30004", "30005", "30006", "30007"), strict=True):
        assert (got[phone(i)].state, got[phone(i)].error_code) == ("failed", code)
    # Unreachable handset, unknown carrier error: tried again later, like any temporary fault.
    assert {(got[phone(i)].state, got[phone(i)].error_code) for i in (8, 9)} == {("queued", "30003"),
                                                                                ("queued", "30008")}
    assert all(got[phone(i)].attempts == 1 for i in range(10) if i != 3)
    async with database.read() as conn:
        status = {r.phone: (r.status, r.opted_out_how) for r in await conn.execute(select(residents))}
    # The provider says this person unsubscribed: we record the opt-out too.
    assert status[phone(1)] == ("opted_out", "provider:21610")
    assert status[phone(0)][0] == "active"


async def test_timeouts_and_connection_errors_are_retried(database: Any, fake: Any) -> None:
    server, url = fake
    await setup(database, 1)
    server.delay = 1.0
    sms = channel(url, timeout=0.2)
    unreachable = channel("http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        await Worker(database, {"sms": sms}, config(), ManualClock(START)).drain(max_batches=1)
        row = (await rows(database))[phone(0)]
        assert (row.state, row.error_code) == ("queued", "timeout")
        clock = ManualClock(START)
        clock.advance(hours=1)
        await Worker(database, {"sms": unreachable}, config(), clock).drain(max_batches=1)
        row = (await rows(database))[phone(0)]
        assert (row.state, row.error_code) == ("queued", "connection")
    finally:
        await sms.close()
        await unreachable.close()


async def test_an_organisations_sms_contact_is_decrypted_only_when_sent(database: Any, fake: Any) -> None:
    from cryptography.fernet import Fernet

    from alerts.areas import Areas
    from alerts.crypto import Cipher
    from alerts.organisations import (
        ContactBook,
        OrganisationReport,
        parse_organisations_csv,
        upsert_organisations,
    )
    from alerts.settings.areas import AreasConfig
    from alerts.store import drafts as draft_store
    from alerts.store.tables import contacts
    from tests.outbox.helpers import TOWNSHIPS

    server, url = fake
    cipher = Cipher(Fernet.generate_key().decode())
    import yaml

    from tests.conftest import CONFIG

    areas = Areas(AreasConfig.model_validate(yaml.safe_load((CONFIG / "areas.yaml").read_text(encoding="utf-8"))))
    rows, problems = parse_organisations_csv("key,name,kind,area,contacts\nmine-1,某煤矿,coal_mine,北城街道,"
                                             "sms:13800138000|name=安全员\n", areas)
    assert not problems
    async with database.write() as conn:
        await upsert_organisations(conn, rows, cipher=cipher, at=START, report=OrganisationReport())
        stored = (await conn.execute(select(contacts.c.address_enc))).scalar()
        assert "13800138000" not in stored
        items = [draft_store.NewMessage(route="t", template_id="t", template_hash="h", template_reviewed=True,
                                        audience="enterprises", channel="sms", language="zh-CN", areas=TOWNSHIPS,
                                        text="煤矿安全提示")]
        draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level="red",
                                            group_key="chain:1", exercise=False, created_by="t", at=START,
                                            expires_at=None, items=items)
        await draft_store.transition(conn, draft_id, "pending", "approved", at=START)
        record = await draft_store.get(conn, draft_id)
        from alerts.outbox import fanout

        await fanout.fan_out(conn, record.row, record.messages, now=START, test_phones=[])  # type: ignore[union-attr]
        await draft_store.transition(conn, draft_id, "approved", "dispatching", at=START)
    sms = channel(url)
    sms.contacts = ContactBook(database, cipher)
    try:
        result = await Worker(database, {"sms": sms}, config(), ManualClock(START)).drain()
    finally:
        await sms.close()
    assert result.sent == 1 and [r.to for r in server.received] == ["+8613800138000"]
    assert (await rows_by_id(database))[0].address.startswith("contact:"), "the ledger keeps the reference only"


async def rows_by_id(database: Any) -> list[Any]:
    async with database.read() as conn:
        return list(await conn.execute(select(deliveries).order_by(deliveries.c.id)))
