"""The worker: order, expiry, withdrawal, opt-out while queued, and the in-doubt policy (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from alerts.channels.base import Ok, Outbound, Outcome
from alerts.clock import ManualClock
from alerts.outbox.worker import Worker
from alerts.recipients import opt_out
from alerts.settings.channels import ChannelsConfig
from alerts.store import deliveries as store
from alerts.store import delivery_stats
from alerts.store.tables import deliveries, delivery_attempts
from tests.outbox.helpers import add_residents, approved_draft, phone

START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)


class Recorder:
    """A channel that records what it was asked to send (the real Twilio path is in tests/channels)."""

    name = "sms"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    async def send(self, item: Outbound) -> Outcome:
        self.sent.append(item)
        return Ok(provider_id=f"x{item.delivery_id}", provider_status="queued")

    async def close(self) -> None:
        return None


def worker(database: Any, clock: ManualClock, channel: Recorder, **outbox: Any) -> Worker:
    cfg = ChannelsConfig.model_validate({"outbox": {"batch_size": 10, **outbox}})
    return Worker(database, {"sms": channel}, cfg, clock)


async def states(database: Any) -> dict[str, str]:
    async with database.read() as conn:
        return {r.address: r.state for r in await conn.execute(select(deliveries))}


async def test_higher_levels_are_sent_first(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 3, at=START)
        await approved_draft(conn, at=START, level="yellow", group_key="chain:1", text="yellow")
        await approved_draft(conn, at=START, level="red", group_key="chain:2", text="red")
    channel = Recorder()
    await worker(database, ManualClock(START), channel).drain()
    assert [o.text for o in channel.sent] == ["red"] * 3 + ["yellow"] * 3


async def test_messages_past_their_alerts_expiry_are_not_sent(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 2, at=START)
        await approved_draft(conn, at=START, expires_at=START + timedelta(minutes=5))
    clock = ManualClock(START + timedelta(minutes=6))
    channel = Recorder()
    result = await worker(database, clock, channel).drain()
    assert result.expired == 2 and not channel.sent
    async with database.read() as conn:
        errors = {r.error for r in await conn.execute(select(deliveries))}
    assert errors == {"its alert expired before it could be sent"}


async def test_withdrawal_stops_what_is_still_queued(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 25, at=START)
        draft_id, _ = await approved_draft(conn, at=START)
    channel = Recorder()
    w = worker(database, ManualClock(START), channel)
    await w.run_once(max_batches=1)
    async with database.write() as conn:
        stopped = await store.withdraw_for_draft(conn, draft_id, now=START, reason="operator stop")
    await w.drain()
    got = await states(database)
    assert stopped == 15 and len(channel.sent) == 10
    assert sorted(got.values()).count("withdrawn") == 15 and sorted(got.values()).count("sent") == 10


async def test_opting_out_suppresses_deliveries_still_queued(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 3, at=START)
        await approved_draft(conn, at=START)
        assert await opt_out(conn, phone=phone(1), how="sms:退订", at=START, actor="test", origin="test")
    channel = Recorder()
    await worker(database, ManualClock(START), channel).drain()
    assert {o.address for o in channel.sent} == {phone(0), phone(2)}
    assert (await states(database))[phone(1)] == "suppressed"


async def crash_leaving_in_flight(database: Any, clock: ManualClock) -> None:
    """Claim a batch as a worker that then dies: rows stay in flight under a dead owner."""
    async with database.write() as conn:
        await store.claim(conn, owner="otherhost:1:dead", now=clock.now(), lease_seconds=60, limit=100)


async def test_in_doubt_deliveries_are_resent_once_under_the_resend_policy(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 4, at=START)
        await approved_draft(conn, at=START)
    clock = ManualClock(START)
    await crash_leaving_in_flight(database, clock)
    channel = Recorder()
    w = worker(database, clock, channel, in_doubt="resend")
    assert await w.reclaim() == 0, "a live lease is left alone"
    clock.advance(seconds=61)
    assert await w.reclaim() == 4
    await w.drain()
    assert len(channel.sent) == 4 and set((await states(database)).values()) == {"sent"}
    async with database.read() as conn:
        status = await delivery_stats.status(conn, clock.now())
        outcomes = [r.outcome for r in await conn.execute(select(delivery_attempts))]
    assert (status.in_doubt_total, status.in_doubt_resent) == (4, 4)
    assert outcomes.count("in_doubt") == 4 and outcomes.count("ok") == 4


async def test_in_doubt_twice_is_still_sent_and_campaigns_under_the_fail_policy_end_failed(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 2, at=START)
        await approved_draft(conn, at=START, group_key="chain:1")
        await approved_draft(conn, at=START, kind="campaign", level=None, group_key="campaign:x")
    clock = ManualClock(START)
    channel = Recorder()  # keeps no provider record: in-doubt deliveries are "unknowable"
    w = worker(database, clock, channel, in_doubt="resend", in_doubt_campaigns="fail")
    for _ in range(2):  # two crashes in a row, each with everything in flight
        await crash_leaving_in_flight(database, clock)
        clock.advance(seconds=61)
        assert await w.reclaim() in (4, 2)
    async with database.read() as conn:
        rows = list(await conn.execute(select(deliveries).order_by(deliveries.c.id)))
    assert {(r.state, r.in_doubt, r.reconciled) for r in rows} == {("queued", True, None)}, \
        "a crash never fails a delivery; each waits to be looked up"
    await w.drain()
    async with database.read() as conn:
        rows = list(await conn.execute(select(deliveries).order_by(deliveries.c.id)))
    # Warnings sent once more (at-least-once); campaigns failed (at-most-once), with the reason.
    assert sorted((r.state, r.reconciled) for r in rows) == [("failed", "unknowable")] * 2 + [("sent", "unknowable")] * 2
    assert all(r.error_code == "in_doubt" and "policy: fail" in r.error for r in rows if r.state == "failed")
    assert len(channel.sent) == 2


async def test_a_dead_local_worker_is_reclaimed_without_waiting_for_its_lease(database: Any) -> None:
    import socket

    async with database.write() as conn:
        await add_residents(conn, 2, at=START)
        await approved_draft(conn, at=START)
        await store.claim(conn, owner=f"{socket.gethostname()}:999999999:x", now=START, lease_seconds=600, limit=10)
    assert await worker(database, ManualClock(START), Recorder()).reclaim() == 2


async def test_a_late_worker_cannot_overwrite_a_reclaimed_delivery(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 1, at=START)
        await approved_draft(conn, at=START)
        [claimed] = await store.claim(conn, owner="slow", now=START, lease_seconds=1, limit=1)
        await conn.execute(update(deliveries).values(lease_owner="someone-else"))
        await store.finish(conn, claimed.id, owner="slow", state="sent", now=START)
        row = (await conn.execute(select(deliveries))).one()
    assert row.state == "in_flight" and row.lease_owner == "someone-else"




async def test_a_cancel_stops_the_queued_deliveries_of_a_dispatching_draft(database: Any) -> None:
    from types import SimpleNamespace

    from alerts.drafting import Drafter, DraftOutcome

    async with database.write() as conn:
        await add_residents(conn, 25, at=START)
        draft_id, _ = await approved_draft(conn, at=START, group_key="chain:5")
    channel = Recorder()
    w = worker(database, ManualClock(START), channel)
    await w.run_once(max_batches=1)
    drafter = Drafter.__new__(Drafter)  # only the withdrawal step is exercised here
    async with database.write() as conn:
        await drafter._withdraw_pending(conn, "chain:5", SimpleNamespace(identifier="CANCEL-1"), START,  # type: ignore[arg-type]
                                        DraftOutcome())
    await w.drain()
    got = sorted((await states(database)).values())
    assert len(channel.sent) == 10 and got.count("withdrawn") == 15
    async with database.read() as conn:
        from alerts.store.tables import drafts

        assert (await conn.execute(select(drafts.c.state).where(drafts.c.id == draft_id))).scalar() == "sent"
