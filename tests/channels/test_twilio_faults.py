"""Twilio account-level faults pause (with an operator problem, no attempt spent) and resume; the
ValidityPeriod follows the warning's end; in-doubt deliveries are looked up in Twilio's message list
before anything is sent again. The real twilio library against the local Twilio-like server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from alerts.channels.base import Outbound
from alerts.channels.twilio_sms import TwilioSmsChannel
from alerts.clock import ManualClock
from alerts.outbox.worker import Worker
from alerts.settings.channels import ChannelsConfig
from alerts.store import deliveries as store
from alerts.store import problems
from alerts.store.tables import deliveries, delivery_attempts
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, start
from tests.outbox.helpers import add_residents, approved_draft, phone

START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)
POOL = ["+15005550006", "+15005550007"]


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeTwilio, str]]:
    server = FakeTwilio()
    runner, url = await start(server)
    try:
        yield server, url
    finally:
        await runner.cleanup()


def channel(url: str, clock: ManualClock, *, senders: list[str] | None = None, token: str = AUTH_TOKEN,
            concurrency: int = 1) -> TwilioSmsChannel:
    return TwilioSmsChannel(account_sid=ACCOUNT_SID, auth_token=token,
                            messaging_service_sid=None if senders else MESSAGING_SERVICE_SID, senders=senders or [],
                            status_callback_base="https://alerts.example.cn", api_base_url=url,
                            messages_per_second=1000, burst=1000, concurrency=concurrency, timeout=5, clock=clock)


def worker(database: Any, sms: TwilioSmsChannel, clock: ManualClock, concurrency: int = 1) -> Worker:
    cfg = ChannelsConfig.model_validate({"sms": {"concurrency": concurrency}, "pause": {"base_seconds": 5}})
    return Worker(database, {"sms": sms}, cfg, clock)


async def ledger(database: Any) -> dict[str, Any]:
    async with database.read() as conn:
        return {r.address: r for r in await conn.execute(select(deliveries))}


async def outcomes(database: Any, delivery_id: int) -> list[str]:
    async with database.read() as conn:
        return [r.outcome for r in await conn.execute(select(delivery_attempts).where(
            delivery_attempts.c.delivery_id == delivery_id).order_by(delivery_attempts.c.id))]


async def problem(database: Any, key: str) -> Any:
    async with database.read() as conn:
        return await problems.get(conn, key)


async def test_a_429_pauses_the_channel_for_retry_after_without_spending_attempts_then_resumes(
        database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 3, at=START)
        await approved_draft(conn, at=START)
    for i in range(3):  # whichever goes first is answered 429 with Retry-After: 30
        server.plan[phone(i)] = [(429, 20429, "30")]
    clock = ManualClock(START)
    sms = channel(url, clock)
    w = worker(database, sms, clock)
    try:
        await w.drain()
        server.plan.clear()
        got = await ledger(database)
        # One sender: the first answer paused the channel; the two others were not even tried.
        assert {r.state for r in got.values()} == {"queued"}
        assert all(r.attempts == 0 for r in got.values())
        assert [r.next_attempt_at for r in got.values() if r.error_code == "20429"] == [START + timedelta(seconds=30)]
        assert server.requests == 1
        opened = await problem(database, "channel_paused:sms")
        assert opened is not None and opened.resolved_at is None and opened.kind == "channel_paused"
        assert "并发" in opened.what and "sms.concurrency" in opened.todo
        clock.advance(seconds=29)
        assert (await w.drain()).claimed == 0, "nothing is sent before the pause ends"
        clock.advance(seconds=2)
        await w.drain()
    finally:
        await sms.close()
    got = await ledger(database)
    assert {r.state for r in got.values()} == {"sent"} and all(r.attempts == 1 for r in got.values())
    assert sorted([await outcomes(database, r.id) for r in got.values()]) == [["ok"], ["ok"], ["paused", "ok"]]
    closed = await problem(database, "channel_paused:sms")
    assert closed.resolved_at is not None and closed.resolved_by == "system", "sending works again: resolved"


async def test_wrong_credentials_pause_with_a_critical_problem_and_nothing_is_lost(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 5, at=START)
        await approved_draft(conn, at=START)
    clock = ManualClock(START)
    wrong = channel(url, clock, token="not-the-token", concurrency=4)
    try:
        await worker(database, wrong, clock, concurrency=4).drain()
    finally:
        await wrong.close()
    got = await ledger(database)
    # Four requests were in flight when the first answer came; the fifth delivery was never tried.
    assert {(r.state, r.attempts) for r in got.values()} == {("queued", 0)}
    assert sorted(str(r.error_code) for r in got.values()) == ["20003"] * 4 + ["None"]
    p = await problem(database, "channel_paused:sms")
    assert p.severity == "critical" and "TWILIO_AUTH_TOKEN" in p.todo
    clock.advance(seconds=61)
    right = channel(url, clock, concurrency=4)
    try:
        await worker(database, right, clock, concurrency=4).drain()
    finally:
        await right.close()
    assert {r.state for r in (await ledger(database)).values()} == {"sent"} and server.duplicates() == 0
    assert (await problem(database, "channel_paused:sms")).resolved_at is not None


async def test_a_full_sender_queue_pauses_that_sender_only(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 6, at=START)
        await approved_draft(conn, at=START)
    server.plan_from[POOL[0]] = [(400, 21611)]
    clock = ManualClock(START)
    sms = channel(url, clock, senders=POOL)
    try:
        await worker(database, sms, clock).drain()
    finally:
        await sms.close()
    got = await ledger(database)
    [rested] = [r for r in got.values() if r.state == "queued"]
    assert rested.attempts == 0 and rested.error_code == "21611"
    # The other five went out through the other number.
    assert server.requests == 6 and {r.sender for r in server.received} == {POOL[1]}
    assert (await problem(database, f"channel_paused:sms:{POOL[0]}")).resolved_at is None
    assert await problem(database, "channel_paused:sms") is None, "the channel itself was not paused"


async def test_14107_rate_limit_pauses_the_sender(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START)
    server.plan[phone(0)] = [(429, 14107)]
    clock = ManualClock(START)
    sms = channel(url, clock, senders=POOL[:1])
    try:
        await worker(database, sms, clock).drain()
    finally:
        await sms.close()
    row = (await ledger(database))[phone(0)]
    assert (row.state, row.attempts, row.error_code) == ("queued", 0, "14107")
    assert (await problem(database, f"channel_paused:sms:{POOL[0]}")) is not None


async def test_the_validity_period_ends_with_the_warning(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START, expires_at=START + timedelta(minutes=90))
        await add_residents(conn, 1, at=START, start=1)
        await approved_draft(conn, at=START, group_key="chain:2", expires_at=START + timedelta(days=3))
    clock = ManualClock(START + timedelta(minutes=30))
    sms = channel(url, clock)
    try:
        await worker(database, sms, clock).drain()
    finally:
        await sms.close()
    periods = {r.to: r.validity_period for r in server.received}
    assert periods[phone(0)] == str(60 * 60), "an hour left of the warning: Twilio drops it after that"
    assert periods[phone(1)] == "36000", "at most Twilio's own ceiling of ten hours"


# --- in doubt: looked up before anything is sent again ------------------------------------------------


async def leave_in_doubt(database: Any, sms: TwilioSmsChannel, clock: ManualClock, *, reach: set[int]) -> None:
    """A worker claims every delivery, its requests for `reach` get to Twilio, then it dies."""
    async with database.write() as conn:
        claimed = await store.claim(conn, owner="otherhost:1:dead", now=clock.now(), lease_seconds=60, limit=100)
    for item in claimed:
        if int(item.address[-8:]) in reach:
            out = Outbound(item.id, item.message_id, item.draft_id, "sms", item.address, item.text)
            assert (await sms.send(out)).__class__.__name__ == "Ok"
    clock.advance(seconds=61)


async def test_in_doubt_deliveries_twilio_has_are_not_sent_again_and_the_others_are_sent_once(
        database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 6, at=START)
        await approved_draft(conn, at=START)
    clock = ManualClock(START)
    sms = channel(url, clock, concurrency=4)
    w = worker(database, sms, clock, concurrency=4)
    try:
        await leave_in_doubt(database, sms, clock, reach={0, 1, 2})
        server.send_after = 3600  # one of them still waits in Twilio's queue: no date_sent yet
        server.received[2].created = datetime.now(UTC)
        server.send_after = 0
        assert await w.reclaim() == 6
        result = await w.drain()
    finally:
        await sms.close()
    assert result.found == 3 and result.sent == 6
    assert all(n == 1 for n in server.by_to.values()) and len(server.by_to) == 6, "each resident once, none twice"
    got = await ledger(database)
    assert {got[phone(i)].reconciled for i in (0, 1, 2)} == {"found"}
    assert {got[phone(i)].reconciled for i in (3, 4, 5)} == {"not_found"}
    assert server.list_requests >= 3
    assert got[phone(0)].provider_id == next(r.sid for r in server.received if r.to == phone(0))


async def test_a_message_still_queued_at_twilio_is_found_by_the_recipient_list(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START)
    server.send_after = 3600  # accepted, not yet sent: a DateSent filter cannot see it
    clock = ManualClock(START)
    sms = channel(url, clock)
    w = worker(database, sms, clock)
    try:
        await leave_in_doubt(database, sms, clock, reach={0})
        await w.reclaim()
        await w.drain()
    finally:
        await sms.close()
    assert server.by_to[phone(0)] == 1 and (await ledger(database))[phone(0)].reconciled == "found"


async def test_a_status_callback_that_came_settles_an_in_doubt_delivery_without_asking(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START)
        [item] = await store.claim(conn, owner="otherhost:1:dead", now=START, lease_seconds=60, limit=1)
        receipt = await store.apply_status(conn, delivery_id=item.id, provider_id="SM1", status="delivered",
                                           error_code=None, now=START)
        assert receipt.found
        result = await store.reclaim(conn, now=START + timedelta(seconds=61), dead_owners=[])
        row = (await conn.execute(select(deliveries))).one()
    assert (result.settled, row.state, row.reconciled, row.provider_id) == (1, "delivered", "callback", "SM1")


async def test_carrier_callbacks_queue_again_what_sending_again_can_cure(database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 3, at=START)
        await approved_draft(conn, at=START)
    clock = ManualClock(START)
    sms = channel(url, clock, concurrency=3)
    w = worker(database, sms, clock, concurrency=3)
    try:
        await w.drain()
        sent = await ledger(database)
        answers = {phone(0): "30003", phone(1): "30001", phone(2): "30005"}  # unreachable, queue overflow, unknown
        async with database.write() as conn:
            for number, code in answers.items():
                await store.apply_status(conn, delivery_id=sent[number].id, provider_id=sent[number].provider_id,
                                         status="undelivered", error_code=code, now=clock.now())
        got = await ledger(database)
        assert (got[phone(0)].state, got[phone(0)].attempts, got[phone(0)].provider_id) == ("queued", 1, None)
        assert (got[phone(1)].state, got[phone(1)].attempts) == ("queued", 0), "the account's fault: no attempt spent"
        assert (got[phone(2)].state, got[phone(2)].error_code) == ("failed", "30005"), "unknown number: ended"
        assert (await problem(database, "channel_paused:sms")).resolved_at is None
        clock.advance(minutes=2)
        await w.drain()
    finally:
        await sms.close()
    got = await ledger(database)
    assert got[phone(0)].state == got[phone(1)].state == "sent" and server.by_to[phone(0)] == 2
    assert (await problem(database, "channel_paused:sms")).resolved_at is not None


async def test_a_lookup_twilio_refuses_falls_to_the_policy_and_one_it_cannot_answer_now_waits(
        database: Any, fake: Any) -> None:
    server, url = fake
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START)
    clock = ManualClock(START)
    sms = channel(url, clock)
    w = worker(database, sms, clock)
    try:
        await leave_in_doubt(database, sms, clock, reach=set())
        await w.reclaim()
        server.list_status = 503  # Twilio busy: the lookup is tried again later, nothing is sent meanwhile
        await w.drain()
        row = (await ledger(database))[phone(0)]
        assert (row.state, row.reconciled, row.error_code, server.requests) == ("queued", None, "reconcile", 0)
        server.list_status = 403  # refused for good: Twilio cannot tell, so the policy (resend) decides
        clock.advance(minutes=10)
        await w.drain()
    finally:
        await sms.close()
    row = (await ledger(database))[phone(0)]
    assert (row.state, row.reconciled, server.by_to[phone(0)]) == ("sent", "unknowable", 1), (row.error_code, row.error, row.next_attempt_at)
