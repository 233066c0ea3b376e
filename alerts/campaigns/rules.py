"""Calendar rules → occurrences: fixed date, week of a date, nth weekday, date range with cadence, cron."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerts.clock import SHANGHAI
from alerts.settings.campaigns import (
    WEEKDAYS,
    CronRule,
    DateRangeRule,
    FixedDateRule,
    NthWeekdayRule,
    WeekOfRule,
)

WEEKDAY_ZH = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}
MAX_OCCURRENCES = 5000  # a bound on any one listing: a window of years of daily rules stays well inside


def _at(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


def _safe_date(year: int, month: int, day: int) -> date | None:
    """None for 29 February in a year without it: that year has no such occurrence."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date | None:
    days = [d for d in calendar.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == weekday]
    if n == -1:
        return days[-1]
    return days[n - 1] if n <= len(days) else None


def _yearly_days(rule: Any, year: int) -> Iterator[tuple[date, str]]:
    """The (local date, HH:MM) occurrences a non-cron rule produces for seasons starting in `year`."""
    if isinstance(rule, FixedDateRule):
        if rule.year is None or rule.year == year:
            d = _safe_date(year, rule.month, rule.day)
            if d:
                yield d, rule.time
    elif isinstance(rule, WeekOfRule):
        anchor = _safe_date(year, rule.month, rule.day)
        if anchor:
            monday = anchor - timedelta(days=anchor.weekday())
            for wd in sorted(WEEKDAYS.index(w) for w in set(rule.weekdays)):
                yield monday + timedelta(days=wd), rule.time
    elif isinstance(rule, NthWeekdayRule):
        d = _nth_weekday(year, rule.month, WEEKDAYS.index(rule.weekday), rule.n)
        if d:
            yield d, rule.time
    elif isinstance(rule, DateRangeRule):
        yield from _season_days(rule, year)


def _season_days(rule: DateRangeRule, year: int) -> Iterator[tuple[date, str]]:
    start = _safe_date(year, rule.start.month, rule.start.day) or date(year, 3, 1)
    wraps = (rule.end.month, rule.end.day) < (rule.start.month, rule.start.day)
    end_year = year + 1 if wraps else year
    # An end on 29 February falls back to the 28th in other years.
    end = _safe_date(end_year, rule.end.month, rule.end.day) or date(end_year, 2, 28)
    cad = rule.cadence
    if cad.every == "once":
        yield start, cad.time
        return
    wanted = {WEEKDAYS.index(w) for w in cad.weekdays}
    first_monday = start - timedelta(days=start.weekday())
    d = start
    while d <= end:
        if cad.every == "daily":
            yield d, cad.time
        elif d.weekday() in wanted and ((d - first_monday).days // 7) % cad.every_weeks == 0:
            yield d, cad.time
        d += timedelta(days=1)


def occurrences(rule: Any, start: datetime, end: datetime, *, tz: ZoneInfo = SHANGHAI,
                limit: int = MAX_OCCURRENCES) -> list[datetime]:
    """Occurrences with start <= at < end, as local (tz-aware) times, in order; at most `limit`."""
    if rule is None or end <= start:
        return []
    if isinstance(rule, CronRule):
        return _cron_occurrences(rule, start, end, tz, limit)
    found: list[datetime] = []
    first_year = start.astimezone(tz).year - 1  # a season may start the year before (heating season)
    for year in range(first_year, end.astimezone(tz).year + 1):
        for day, hhmm in _yearly_days(rule, year):
            at = _at(day, hhmm, tz)
            if start <= at < end:
                found.append(at)
    found = sorted(set(found))
    return found[:limit]


def _cron_occurrences(rule: CronRule, start: datetime, end: datetime, tz: ZoneInfo, limit: int) -> list[datetime]:
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(rule.expression, timezone=tz)
    found: list[datetime] = []
    moment = start.astimezone(tz)
    while len(found) < limit:
        nxt = trigger.get_next_fire_time(None, moment)
        if nxt is None or nxt >= end:
            break
        found.append(nxt)
        moment = nxt + timedelta(seconds=1)
    return found


def next_after(rule: Any, moment: datetime, *, tz: ZoneInfo = SHANGHAI) -> datetime | None:
    """The first occurrence at or after `moment` (looking up to two years ahead)."""
    found = occurrences(rule, moment, moment + timedelta(days=732), tz=tz, limit=1)
    return found[0] if found else None


def describe(rule: Any) -> str:
    """The rule in words, as the CLI and the console show it."""
    if rule is None:
        return "on demand only (按需触发)"
    if isinstance(rule, FixedDateRule):
        when = f"{rule.year}-{rule.month:02d}-{rule.day:02d}" if rule.year else f"every year on {rule.month:02d}-{rule.day:02d}"
        return f"fixed_date: {when} at {rule.time}"
    if isinstance(rule, WeekOfRule):
        days = ",".join(rule.weekdays)
        return f"week_of: the week (Mon-Sun) containing {rule.month:02d}-{rule.day:02d}, on {days} at {rule.time}"
    if isinstance(rule, NthWeekdayRule):
        nth = "last" if rule.n == -1 else {1: "1st", 2: "2nd", 3: "3rd"}.get(rule.n, f"{rule.n}th")
        return f"nth_weekday: the {nth} {rule.weekday} of month {rule.month} at {rule.time}"
    if isinstance(rule, DateRangeRule):
        cad = rule.cadence
        span = f"{rule.start.month:02d}-{rule.start.day:02d} to {rule.end.month:02d}-{rule.end.day:02d}"
        if cad.every == "once":
            how = f"once at the start at {cad.time}"
        elif cad.every == "daily":
            how = f"daily at {cad.time}"
        else:
            every = "weekly" if cad.every_weeks == 1 else f"every {cad.every_weeks} weeks"
            how = f"{every} on {','.join(cad.weekdays)} at {cad.time}"
        return f"date_range: {span}, {how}"
    if isinstance(rule, CronRule):
        return f"cron: {rule.expression} (Asia/Shanghai)"
    return str(rule)
