"""Member departments at work: who is on duty now, whether a roster covers every hour, task notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.clock import SHANGHAI
from alerts.settings.departments import DAYS, Contact, Department, DepartmentsConfig, minutes


@dataclass(frozen=True)
class OnDuty:
    department: str
    contact: Contact

    @property
    def key(self) -> str:
        return f"d:{self.department}:{self.contact.key}"


def _covers(start: int, end: int, minute: int, *, same_day: bool) -> bool:
    """Does a shift [start, end) — past midnight when end <= start — cover `minute` of its own day
    (same_day) or of the next day (not same_day)?"""
    if end > start:
        return same_day and start <= minute < end
    if same_day:
        return minute >= start
    return minute < end


def on_duty(key: str, department: Department, at: datetime) -> list[OnDuty]:
    """The contacts on duty at `at` (Asia/Shanghai shifts), in roster order, each once."""
    local = at.astimezone(SHANGHAI)
    minute = local.hour * 60 + local.minute
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local - timedelta(days=1)).weekday()]
    contacts = {c.key: c for c in department.contacts}
    found: dict[str, OnDuty] = {}
    for shift in department.roster:
        start, end = minutes(shift.start), minutes(shift.end)
        days = shift.day_list()
        if (today in days and _covers(start, end, minute, same_day=True)) or (
                yesterday in days and _covers(start, end, minute, same_day=False)):
            found.setdefault(shift.contact, OnDuty(key, contacts[shift.contact]))
    return list(found.values())


def roster_gaps(department: Department) -> list[str]:
    """Hours of the week nobody with a phone is on duty, as 'mon 03:00-08:00' (empty: 24-hour cover)."""
    week = [False] * (7 * 1440)
    reachable = {c.key for c in department.contacts if c.phone}
    for shift in department.roster:
        if shift.contact not in reachable:
            continue
        start, end = minutes(shift.start), minutes(shift.end)
        length = (end - start) if end > start else (1440 - start + end)
        for day in shift.day_list():
            base = DAYS.index(day) * 1440 + start
            for m in range(length):
                week[(base + m) % len(week)] = True
    gaps: list[str] = []
    m = 0
    while m < len(week):
        if week[m]:
            m += 1
            continue
        begin = m
        while m < len(week) and not week[m] and m // 1440 == begin // 1440:
            m += 1
        gaps.append(f"{DAYS[begin // 1440]} {_hhmm(begin % 1440)}-{_hhmm((m - 1) % 1440 + 1)}")
    return gaps


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def due_phrase(due: datetime) -> str:
    """'14时30分' (today) or '7月13日14时30分', as the task notices say it."""
    local = due.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日{local.hour}时{local.minute:02d}分"


def departments_named(config: DepartmentsConfig) -> dict[str, str]:
    return {k: d.short for k, d in config.departments.items()}
