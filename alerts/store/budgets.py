"""Shared send budgets and pauses: token buckets in the database, so that all worker processes together
keep a sender's configured rate, and a pause after an account-level fault holds for every process.

A bucket refills at `rate` tokens a second up to `burst`, measured on the wall clock of whichever
process takes from it (replicas keep their clocks in step with NTP; a clock behind the stamp just
adds nothing). Taking happens inside the worker's claim transaction: on PostgreSQL the rows are
locked (FOR UPDATE), on SQLite the write lock serialises it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.channels.base import Pace
from alerts.store.tables import send_budgets


@dataclass
class Want:
    """Up to `n` tokens from any of `keys` (the senders of one pool: spread evenly over them)."""

    keys: list[str]
    n: int
    pace: Pace


@dataclass
class Grant:
    """One key per token granted, in the order to use them; the next token comes after `wait(1)`."""

    keys: list[str]
    left: float
    rate: float

    @property
    def granted(self) -> int:
        return len(self.keys)

    def wait(self, k: int) -> float:
        """Seconds until the k-th token beyond those granted (k = 1, 2, ...) will be there."""
        return max(0.0, (k - self.left) / self.rate)


@dataclass(frozen=True)
class Pause:
    key: str
    until: datetime
    pauses: int
    code: str | None
    reason: str


def _insert(conn: AsyncConnection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(send_budgets)


async def take(conn: AsyncConnection, wants: list[Want], *, wall: float) -> list[Grant]:
    """Take tokens for each want from its keys' buckets (a bucket is created full on first use)."""
    paces = {k: w.pace for w in wants for k in w.keys}
    if not paces:
        return [Grant([], 0.0, w.pace.rate) for w in wants]
    keys = sorted(paces)  # the same lock order in every process
    query = select(send_budgets.c.key, send_budgets.c.tokens, send_budgets.c.stamp).where(
        send_budgets.c.key.in_(keys))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = {r.key: (float(r.tokens), float(r.stamp)) for r in await conn.execute(query)}
    missing = [k for k in keys if k not in rows]
    if missing:
        await conn.execute(_insert(conn).on_conflict_do_nothing(), [
            dict(key=k, tokens=float(paces[k].burst), stamp=wall, pauses=0, pause_reason="") for k in missing])
        fresh = query.where(send_budgets.c.key.in_(missing))
        rows.update({r.key: (float(r.tokens), float(r.stamp)) for r in await conn.execute(fresh)})
    tokens: dict[str, float] = {}
    for key in keys:
        have, stamp = rows[key]
        pace = paces[key]
        tokens[key] = min(float(pace.burst), have + max(0.0, wall - stamp) * pace.rate)
    grants = []
    for want in wants:
        # Round-robin over the keys that still hold whole tokens, so a pool's numbers share the load.
        whole = {k: int(tokens[k] + 1e-9) for k in want.keys}
        taken: list[str] = []
        rounds = 0
        while len(taken) < want.n and any(n > rounds for n in whole.values()):
            ready = [k for k in want.keys if whole[k] > rounds]
            # Whole rounds at once while every ready key can give that many.
            step = max(1, min(min(whole[k] for k in ready) - rounds, (want.n - len(taken)) // len(ready)))
            taken.extend(ready * step)
            rounds += step
            if len(taken) > want.n:
                del taken[want.n:]
        for k in taken:
            tokens[k] -= 1
        left = max((tokens[k] for k in want.keys), default=0.0)
        grants.append(Grant(taken, left, want.pace.rate * max(1, len(want.keys))))
    await conn.execute(update(send_budgets).where(send_budgets.c.key == bindparam("b_key"))
                       .values(tokens=bindparam("b_tokens"), stamp=bindparam("b_stamp")),
                       [{"b_key": k, "b_tokens": tokens[k], "b_stamp": max(rows[k][1], wall)} for k in keys])
    return grants


async def active_pauses(conn: AsyncConnection, now: datetime) -> dict[str, Pause]:
    """Keys paused now, and keys whose pause left an operator problem open (to resolve on success)."""
    rows = await conn.execute(select(send_budgets.c.key, send_budgets.c.paused_until, send_budgets.c.pauses,
                                     send_budgets.c.pause_code, send_budgets.c.pause_reason)
                              .where(or_(send_budgets.c.paused_until > now, send_budgets.c.pause_code.is_not(None))))
    return {r.key: Pause(r.key, r.paused_until or now, int(r.pauses or 0), r.pause_code, r.pause_reason or "")
            for r in rows}


async def pause(conn: AsyncConnection, key: str, *, now: datetime, after: float, base: float, cap: float,
                code: str, reason: str) -> Pause:
    """Pause a key: `after` seconds when the provider said how long, otherwise a backoff that doubles
    with each consecutive pause (reset by `resume`). A later pause already there wins."""
    await conn.execute(_insert(conn).on_conflict_do_nothing(), [
        dict(key=key, tokens=0.0, stamp=0.0, pauses=0, pause_reason="")])
    query = select(send_budgets.c.paused_until, send_budgets.c.pauses).where(send_budgets.c.key == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).one()
    pauses = int(row.pauses or 0)
    seconds = after if after > 0 else min(cap, base * (2 ** pauses))
    until = now + timedelta(seconds=seconds)
    if row.paused_until is not None and row.paused_until > until:
        until = row.paused_until
    await conn.execute(update(send_budgets).where(send_budgets.c.key == key).values(
        paused_until=until, pauses=pauses + 1, pause_code=code or "paused", pause_reason=reason[:500]))
    return Pause(key, until, pauses + 1, code, reason)


async def resume(conn: AsyncConnection, keys: list[str]) -> list[str]:
    """Sending through these keys worked again: end their pauses; returns those that had a problem open."""
    if not keys:
        return []
    open_ = [r.key for r in await conn.execute(select(send_budgets.c.key).where(
        and_(send_budgets.c.key.in_(keys), send_budgets.c.pause_code.is_not(None))))]
    if open_:
        await conn.execute(update(send_budgets).where(send_budgets.c.key.in_(open_))
                           .values(paused_until=None, pauses=0, pause_code=None, pause_reason=""))
    return open_
