"""Time in one place: UTC for storage, Asia/Shanghai for people; a clock tests can move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    """The real clock. Every component takes a clock so that tests can control time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock(Clock):
    """A clock that only moves when told to (tests, dry runs)."""

    def __init__(self, start: datetime):
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)


def local(dt: datetime | None) -> str:
    """A time as people in Gaoping read it, e.g. 2026-07-12 05:30."""
    if dt is None:
        return ""
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
