"""Token buckets per sender: the configured rate and burst hold, and a pool spreads over its senders."""

from __future__ import annotations

import asyncio

import pytest

from alerts.outbox.ratelimit import SenderPool, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(rate=10, burst=5, monotonic=t)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    assert bucket.wait_time() == pytest.approx(0.1)
    t.now += 0.25  # two and a half tokens
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]
    t.now += 100
    assert sum(bucket.try_take() for _ in range(10)) == 5, "never more than the burst after a pause"


async def test_a_pool_takes_senders_in_turn_and_waits_when_all_are_spent() -> None:
    t = FakeTime()
    pool = SenderPool(["+15005550006", "+15005550007"], rate=1, burst=1, monotonic=t)
    assert [await pool.take(), await pool.take()] == ["+15005550006", "+15005550007"]
    waiting = asyncio.create_task(pool.take())
    await asyncio.sleep(0.01)
    assert not waiting.done(), "both numbers spent: the next message waits for a token"
    t.now += 1.0
    assert await asyncio.wait_for(waiting, 1) in ("+15005550006", "+15005550007")
