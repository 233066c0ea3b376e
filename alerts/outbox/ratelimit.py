"""Token buckets per sender: each number or Messaging Service sends at its own configured rate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`; `take` waits until one is there."""

    def __init__(self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._monotonic = monotonic
        self._tokens = float(burst)
        self._stamp = monotonic()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until a token is available (0 when one is there now)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def try_take(self) -> bool:
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class SenderPool:
    """Picks the sender that can send soonest; waits (without busy looping) when all are spent."""

    def __init__(self, senders: Sequence[str], rate: float, burst: int,
                 *, monotonic: Callable[[], float] = time.monotonic):
        if not senders:
            raise ValueError("a sender pool needs at least one sender")
        self.buckets = {s: TokenBucket(rate, burst, monotonic=monotonic) for s in senders}
        self._order = list(senders)
        self._next = 0

    async def take(self) -> str:
        """A sender with a token taken from its bucket, round-robin among those ready."""
        while True:
            n = len(self._order)
            best_wait = float("inf")
            for i in range(n):
                sender = self._order[(self._next + i) % n]
                if self.buckets[sender].try_take():
                    self._next = (self._next + i + 1) % n
                    return sender
                best_wait = min(best_wait, self.buckets[sender].wait_time())
            await asyncio.sleep(max(best_wait, 0.001))
