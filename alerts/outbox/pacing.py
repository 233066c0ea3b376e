"""Pacing claimed deliveries against the shared budgets: which sender sends each, which wait.

Keys in the budget table: "<channel>" (a pause of the whole channel), "<channel>:<sender>" (one
number or Messaging Service of a pool), "<channel>:<address>" (one IM robot). A delivery that gets
no token now goes back to the queue without spending an attempt: a robot's turn is computed so it is
not claimed again before its token is there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.channels.base import Channel, Pace
from alerts.settings.channels import ChannelsConfig
from alerts.store import budgets
from alerts.store.budgets import Pause, Want
from alerts.store.deliveries import Claimed

# How long tokens taken ahead for a fast sender pool stay usable.
RESERVE_SECONDS = 0.1


def sender_key(channel: str, sender: str) -> str:
    return f"{channel}:{sender}"


@dataclass
class Plan:
    senders: dict[int, str] = field(default_factory=dict)  # delivery id -> the sender its token came from
    release: list[tuple[int, datetime | None]] = field(default_factory=list)  # back to the queue (due again at)
    wait: float = 0.0  # seconds before another claim for these channels is worth making


class Pacer:
    """The paces of every channel: a pool of senders (Twilio), one pace per address (robots), or none."""

    def __init__(self, channels: Mapping[str, Channel], config: ChannelsConfig):
        # Tokens taken ahead for a fast pool, usable until the moment given (monotonic).
        self.reserve: dict[str, tuple[list[str], float]] = {}
        self.senders: dict[str, dict[str, Pace]] = {}
        self.addresses: dict[str, Pace] = {}
        for name, channel in channels.items():
            paces = getattr(channel, "sender_paces", None)
            if callable(paces):
                self.senders[name] = dict(paces())
            robot = config.robots.get(name)
            if robot is not None:
                # burst at once, then the rest spread: no window of window_seconds ever holds more than
                # `messages` (burst + rate x window + 1 = messages). The one message kept in hand absorbs a
                # request that leaves late (a busy event loop, a slow network) and so arrives bunched with
                # the next: without it, jitter alone would trip the robot's limit.
                spare = 1 if robot.messages - robot.burst > 1 else 0
                self.addresses[name] = Pace((robot.messages - robot.burst - spare) / robot.window_seconds, robot.burst)
            elif getattr(channel, "address_pace", None) is not None:
                self.addresses[name] = channel.address_pace  # type: ignore[attr-defined]

    def paced(self, channel: str) -> bool:
        return channel in self.senders or channel in self.addresses

    async def plan(self, conn: AsyncConnection, items: list[Claimed], pauses: Mapping[str, Pause], *,
                   now: datetime, wall: float | None = None) -> Plan:
        wall = time.time() if wall is None else wall
        plan = Plan()
        wants: list[Want] = []
        groups: list[tuple[list[Claimed], str]] = []  # (items, the channel of a pool or "" for a robot)
        by_channel: dict[str, list[Claimed]] = {}
        by_address: dict[tuple[str, str], list[Claimed]] = {}
        for item in items:
            if item.channel in self.senders:
                by_channel.setdefault(item.channel, []).append(item)
            elif item.channel in self.addresses:
                by_address.setdefault((item.channel, item.address), []).append(item)
        for name, group in by_channel.items():
            keys = [sender_key(name, s) for s in self.senders[name] if sender_key(name, s) not in pauses
                    or pauses[sender_key(name, s)].until <= now]
            if not keys:  # every sender of the pool is paused
                until = min(pauses[sender_key(name, s)].until for s in self.senders[name])
                plan.release.extend((i.id, until) for i in group)
                continue
            reserved, until = self._reserved(name)
            # Tokens of a sender paused since they were taken are not used.
            held = reserved if len(keys) == len(self.senders[name]) else [k for k in reserved if k in keys]
            for item, key in zip(group, held, strict=False):
                plan.senders[item.id] = key.split(":", 1)[1]
            if len(held) > len(group):
                self.reserve[name] = (held[len(group):], until)
            rest = group[len(held):]
            if rest:
                pace = next(iter(self.senders[name].values()))
                wants.append(Want(keys, len(rest) + _chunk(pace, len(keys)), pace))
                groups.append((rest, name))
        for (name, address), group in by_address.items():
            key = sender_key(name, address)
            pause = pauses.get(key)
            if pause is not None and pause.until > now:  # this robot is throttled: its turn comes after
                plan.release.extend((i.id, pause.until) for i in group)
                continue
            wants.append(Want([key], len(group), self.addresses[name]))
            groups.append((group, ""))
        waits = []
        grants = await budgets.take(conn, wants, wall=wall) if wants else []
        for (group, pool), grant in zip(groups, grants, strict=True):
            for item, key in zip(group, grant.keys, strict=False):
                plan.senders[item.id] = key.split(":", 1)[1]
            if pool and grant.granted > len(group):  # the extra asked for: kept for the next claims
                self.reserve[pool] = (grant.keys[len(group):], time.monotonic() + RESERVE_SECONDS)
            for k, item in enumerate(group[grant.granted:], start=1):
                # A robot's later messages wait for their own turn; a sender pool's are simply claimed again.
                plan.release.append((item.id, None if pool else now + timedelta(seconds=grant.wait(k))))
            if grant.granted < len(group) and pool:
                waits.append(grant.wait(1))
        plan.wait = max(waits, default=0.0)
        return plan

    def _reserved(self, channel: str) -> tuple[list[str], float]:
        keys, until = self.reserve.pop(channel, ([], 0.0))
        return (keys, until) if time.monotonic() < until else ([], 0.0)


def _chunk(pace: Pace, senders: int) -> int:
    """Tokens to take beyond what a claim needs, at high rates only: a tenth of a second's worth, so one
    database visit serves several claims while no other process is kept waiting for long."""
    extra = int(pace.rate * senders * RESERVE_SECONDS)
    return min(extra, pace.burst * senders) if extra >= 10 else 0
