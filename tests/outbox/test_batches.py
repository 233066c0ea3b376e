"""The worker drives batch channels (one provider call for many recipients: Aliyun, Tencent) with the
ledger still one row per delivery; and what it marks in flight is what is really in flight."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from alerts.channels.base import Ok, Outbound, Outcome, Permanent, Retry
from alerts.clock import ManualClock
from alerts.outbox.worker import Worker
from alerts.settings.channels import ChannelsConfig
from alerts.store.tables import deliveries, delivery_attempts
from tests.outbox.helpers import queued_on

START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)


async def in_flight(database: Any) -> int:
    async with database.read() as conn:
        return int((await conn.execute(select(func.count()).where(deliveries.c.state == "in_flight"))).scalar() or 0)


class BulkSms:
    """A batch channel like a domestic SMS provider's: one call per template, at most `max_batch` numbers;
    numbers ending in 9 are refused, those ending in 8 fail for now; one outcome per number, in order."""

    name = "bulk"
    max_batch = 3

    def __init__(self, database: Any) -> None:
        self.database = database
        self.calls: list[list[Outbound]] = []
        self.in_flight_seen: list[int] = []

    def batch_key(self, item: Outbound) -> object:
        return item.message_id  # the same text (template and parameters) goes in one call

    async def send_batch(self, items: list[Outbound]) -> list[Outcome]:
        self.calls.append(items)
        self.in_flight_seen.append(await in_flight(self.database))
        await asyncio.sleep(0.01)
        return [Permanent("refused", code="bad") if i.address.endswith("9") else
                Retry("busy", after=30, code="busy") if i.address.endswith("8") else Ok(provider_id=f"B{i.delivery_id}")
                for i in items]

    async def send(self, item: Outbound) -> Outcome:
        return (await self.send_batch([item]))[0]

    async def close(self) -> None:
        return None


async def test_batch_channels_get_groups_by_key_of_at_most_max_batch_with_one_outcome_each(database: Any) -> None:
    addresses = [f"+8613800000{i:03d}" for i in range(10)]
    async with database.write() as conn:
        await queued_on(conn, at=START, channel="bulk", addresses=addresses, messages=2)
    channel = BulkSms(database)
    cfg = ChannelsConfig.model_validate({"sms": {"concurrency": 2}})
    result = await Worker(database, {"bulk": channel}, cfg, ManualClock(START)).drain()
    assert result.claimed == 20
    assert all(1 <= len(call) <= 3 for call in channel.calls)
    assert all(len({i.message_id for i in call}) == 1 for call in channel.calls), "one batch key per call"
    assert sorted(i.delivery_id for call in channel.calls for i in call) == list(range(1, 21)), "each once"
    # At most two calls in flight, three numbers each: never more than that marked in flight.
    assert max(channel.in_flight_seen) <= 2 * 3
    async with database.read() as conn:
        rows = {r.id: r for r in await conn.execute(select(deliveries))}
        attempts = collections.Counter(r.outcome for r in await conn.execute(select(delivery_attempts)))
    by_end = collections.Counter((r.address[-1], r.state) for r in rows.values())
    assert by_end[("9", "failed")] == 2 and by_end[("8", "queued")] == 2 and sum(
        n for (end, state), n in by_end.items() if state == "sent") == 16
    assert all(r.provider_id == f"B{r.id}" for r in rows.values() if r.state == "sent")
    assert attempts == {"ok": 16, "permanent": 2, "retry": 2}


class Slow:
    """A plain channel that notes how many deliveries are marked in flight whenever a request starts."""

    name = "sms"

    def __init__(self, database: Any) -> None:
        self.database = database
        self.seen: list[int] = []

    async def send(self, item: Outbound) -> Outcome:
        self.seen.append(await in_flight(self.database))
        await asyncio.sleep(0.005)
        return Ok(provider_id=f"S{item.delivery_id}")

    async def close(self) -> None:
        return None


async def test_no_more_deliveries_are_in_flight_than_requests_can_be(database: Any) -> None:
    async with database.write() as conn:
        await queued_on(conn, at=START, channel="sms", addresses=[f"+8613900000{i:03d}" for i in range(300)])
    channel = Slow(database)
    # A claim may take up to 200, but never more than the 8 senders can have in flight.
    cfg = ChannelsConfig.model_validate({"sms": {"concurrency": 8}, "outbox": {"batch_size": 200}})
    result = await Worker(database, {"sms": channel}, cfg, ManualClock(START)).drain()
    assert result.sent == 300 and max(channel.seen) <= 8 and await in_flight(database) == 0
