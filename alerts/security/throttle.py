"""Wrong passwords slow down, never lock: exponential delays per (account, client), and per account.

A hard lock let anyone lock out the approvers during a warning; a per-address counter punished
everyone behind one proxy. Here each wrong password is counted under (account, client address)
and under the account alone, with a larger allowance; past the allowance each try waits twice
as long as the one before, up to a ceiling. A browser the account's owner signed in from before
(a remembered device) is counted only under its own key, so the owner gets in while an attack
on the account runs elsewhere. Unknown and known names are treated exactly alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.settings.service import SessionSection
from alerts.store import accounts


@dataclass(frozen=True)
class Attempt:
    """The keys one login attempt is checked and counted under."""

    name: str
    client: str
    device: str | None  # hash of a remembered device of this very account

    def keys(self) -> list[tuple[str, str]]:
        """(key, kind): kind "local" uses free_failures, "account" uses account_free_failures."""
        name = self.name.lower()[:100]
        if self.device is not None:
            return [(f"device:{name}|{self.device[:32]}", "local")]
        return [(f"client:{name}|{self.client[:64]}", "local"), (f"account:{name}", "account")]


async def wait_seconds(conn: AsyncConnection, attempt: Attempt, *, now: datetime) -> int:
    """How long this attempt must wait before a password is even checked (0: go ahead)."""
    until = await accounts.throttled_until(conn, [k for k, _ in attempt.keys()])
    return 0 if until is None or until <= now else max(1, math.ceil((until - now).total_seconds()))


async def failed(conn: AsyncConnection, attempt: Attempt, conf: SessionSection, *, now: datetime) -> None:
    max_delay = conf.max_delay_minutes * 60
    forget = timedelta(hours=1) + timedelta(seconds=2 * max_delay)
    for key, kind in attempt.keys():
        free = conf.account_free_failures if kind == "account" else conf.free_failures
        await accounts.count_failure(conn, key, now=now, free=free, first_delay=conf.first_delay_seconds,
                                     max_delay=max_delay, forget_after=forget)


async def succeeded(conn: AsyncConnection, attempt: Attempt) -> None:
    # The account-wide count stays: an attack elsewhere goes on being slowed down.
    await accounts.clear_throttle(conn, [k for k, kind in attempt.keys() if kind == "local"])
