"""Shared send budgets: a token bucket per key in the database (refill, burst, spreading over a pool),
and pauses that back off while a fault repeats and reset when sending works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from alerts.channels.base import Pace
from alerts.store import budgets
from alerts.store.budgets import Want

T0 = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)


async def test_a_bucket_gives_its_burst_then_its_rate_and_never_more_than_the_burst(database: Any) -> None:
    pace = Pace(rate=10, burst=5)
    async with database.write() as conn:
        [first] = await budgets.take(conn, [Want(["sms:A"], 8, pace)], wall=1000.0)
        [none] = await budgets.take(conn, [Want(["sms:A"], 8, pace)], wall=1000.0)
        [later] = await budgets.take(conn, [Want(["sms:A"], 8, pace)], wall=1000.35)
        [rested] = await budgets.take(conn, [Want(["sms:A"], 8, pace)], wall=2000.0)
    assert (first.granted, none.granted, later.granted, rested.granted) == (5, 0, 3, 5)
    assert abs(none.wait(1) - 0.1) < 1e-6, "the next token comes after 1/rate seconds"


async def test_a_pool_spreads_its_tokens_over_its_senders_in_turn(database: Any) -> None:
    pace = Pace(rate=1, burst=3)
    async with database.write() as conn:
        [grant] = await budgets.take(conn, [Want(["sms:A", "sms:B"], 5, pace)], wall=50.0)
        [rest] = await budgets.take(conn, [Want(["sms:A", "sms:B"], 5, pace)], wall=50.0)
    assert grant.keys == ["sms:A", "sms:B", "sms:A", "sms:B", "sms:A"] and rest.keys == ["sms:B"]


async def test_pauses_double_while_a_fault_repeats_unless_the_provider_says_how_long(database: Any) -> None:
    async with database.write() as conn:
        first = await budgets.pause(conn, "sms", now=T0, after=0, base=1, cap=10, code="20429", reason="busy")
        second = await budgets.pause(conn, "sms", now=T0, after=0, base=1, cap=10, code="20429", reason="busy")
        told = await budgets.pause(conn, "sms", now=T0, after=30, base=1, cap=10, code="20429", reason="busy")
        paused = await budgets.active_pauses(conn, T0)
        resumed = await budgets.resume(conn, ["sms", "sms:other"])
        after = await budgets.pause(conn, "sms", now=T0 + timedelta(minutes=1), after=0, base=1, cap=10, code="x",
                                    reason="again")
    assert (first.until - T0, second.until - T0) == (timedelta(seconds=1), timedelta(seconds=2))
    assert told.until - T0 == timedelta(seconds=30) and paused["sms"].code == "20429"
    assert resumed == ["sms"] and after.pauses == 1, "a send that worked resets the backoff"
