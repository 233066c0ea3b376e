"""Each calendar rule kind produces the right local times, and only inside the window."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from alerts.campaigns import rules
from alerts.campaigns.scheduling import RuleTrigger
from alerts.clock import SHANGHAI
from alerts.settings.campaigns import Rule

RULE = TypeAdapter(Rule)


def rule(**kw: object) -> object:
    return RULE.validate_python(kw)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def year(r: object, y: int) -> list[str]:
    return [at.strftime("%Y-%m-%d %H:%M") for at in rules.occurrences(r, local(y, 1, 1), local(y + 1, 1, 1))]


def test_fixed_date_fires_every_year_at_its_local_time() -> None:
    r = rule(kind="fixed_date", month=3, day=23, time="09:30")
    assert year(r, 2027) == ["2027-03-23 09:30"]
    at = rules.occurrences(r, local(2027, 1, 1), local(2029, 1, 1))
    assert [a.isoformat() for a in at] == ["2027-03-23T09:30:00+08:00", "2028-03-23T09:30:00+08:00"]


def test_fixed_date_with_a_year_fires_once_and_29_february_only_in_leap_years() -> None:
    assert rules.occurrences(rule(kind="fixed_date", month=7, day=1, year=2027), local(2026, 1, 1),
                             local(2030, 1, 1)) == [local(2027, 7, 1, 10, 0)]
    leap = rule(kind="fixed_date", month=2, day=29)
    assert year(leap, 2027) == [] and year(leap, 2028) == ["2028-02-29 10:00"]


def test_week_of_uses_the_monday_to_sunday_week_containing_the_date() -> None:
    r = rule(kind="week_of", month=5, day=12, weekdays=["mon", "fri"])
    assert year(r, 2027) == ["2027-05-10 10:00", "2027-05-14 10:00"]  # 12 May 2027 is a Wednesday
    assert year(r, 2030) == ["2030-05-06 10:00", "2030-05-10 10:00"]  # 12 May 2030 is a Sunday


def test_nth_weekday_counts_from_the_start_or_takes_the_last() -> None:
    assert year(rule(kind="nth_weekday", month=5, weekday="mon", n=4), 2027) == ["2027-05-24 10:00"]
    assert year(rule(kind="nth_weekday", month=9, weekday="sat", n=3), 2024) == ["2024-09-21 10:00"]
    assert year(rule(kind="nth_weekday", month=5, weekday="mon", n=-1), 2027) == ["2027-05-31 10:00"]
    assert year(rule(kind="nth_weekday", month=2, weekday="mon", n=5), 2027) == []  # no fifth Monday


def test_date_range_weekly_on_tuesday_covers_the_flood_season() -> None:
    r = rule(kind="date_range", start={"month": 6, "day": 1}, end={"month": 9, "day": 30},
             cadence={"every": "weekly", "weekdays": ["tue"], "time": "10:00"})
    found = year(r, 2027)
    assert found[0] == "2027-06-01 10:00" and found[-1] == "2027-09-28 10:00"
    assert len(found) == 18
    assert all(datetime.strptime(d, "%Y-%m-%d %H:%M").weekday() == 1 for d in found)


def test_date_range_wraps_over_new_year_and_supports_every_two_weeks_daily_and_once() -> None:
    heating = rule(kind="date_range", start={"month": 11, "day": 15}, end={"month": 3, "day": 15},
                   cadence={"every": "weekly", "weekdays": ["fri"]})
    at = rules.occurrences(heating, local(2027, 1, 1), local(2027, 4, 1))
    assert at[0] == local(2027, 1, 1, 10) and at[-1] == local(2027, 3, 12, 10)
    fortnight = rule(kind="date_range", start={"month": 6, "day": 1}, end={"month": 6, "day": 30},
                     cadence={"every": "weekly", "weekdays": ["thu"], "every_weeks": 2})
    assert year(fortnight, 2027) == ["2027-06-03 10:00", "2027-06-17 10:00"]
    daily = rule(kind="date_range", start={"month": 6, "day": 1}, end={"month": 6, "day": 3},
                 cadence={"every": "daily", "time": "08:15"})
    assert year(daily, 2027) == ["2027-06-01 08:15", "2027-06-02 08:15", "2027-06-03 08:15"]
    once = rule(kind="date_range", start={"month": 9, "day": 1}, end={"month": 9, "day": 30}, cadence={"every": "once"})
    assert year(once, 2027) == ["2027-09-01 10:00"]


def test_cron_expression_in_local_time() -> None:
    r = rule(kind="cron", expression="0 10 1,15 6 *")
    assert year(r, 2027) == ["2027-06-01 10:00", "2027-06-15 10:00"]
    weekly = rule(kind="cron", expression="30 9 * 3 mon")
    assert year(weekly, 2027)[:2] == ["2027-03-01 09:30", "2027-03-08 09:30"]
    assert rules.occurrences(weekly, local(2027, 3, 1, 9, 30), local(2027, 3, 1, 9, 31)) == [local(2027, 3, 1, 9, 30)]


def test_window_is_start_inclusive_end_exclusive() -> None:
    r = rule(kind="fixed_date", month=5, day=12)
    assert rules.occurrences(r, local(2027, 5, 12, 10), local(2027, 5, 12, 10, 1)) == [local(2027, 5, 12, 10)]
    assert rules.occurrences(r, local(2027, 5, 11), local(2027, 5, 12, 10)) == []


@pytest.mark.parametrize("bad, expected", [
    ({"kind": "fixed_date", "month": 2, "day": 30}, "month 2 has no day 30"),
    ({"kind": "fixed_date", "month": 3, "day": 23, "time": "25:00"}, "HH:MM"),
    ({"kind": "nth_weekday", "month": 5, "weekday": "mon", "n": 0}, "counts from 1"),
    ({"kind": "cron", "expression": "0 10 * 6 1"}, "by name"),
    ({"kind": "cron", "expression": "* 10 * 6 mon"}, "at most once an hour"),
    ({"kind": "cron", "expression": "0 10 *"}, "5 fields"),
    ({"kind": "weekly"}, "kind"),
])
def test_bad_rules_are_refused_with_a_clear_reason(bad: dict, expected: str) -> None:
    with pytest.raises(ValidationError) as err:
        RULE.validate_python(bad)
    assert expected in str(err.value)


def test_rule_trigger_gives_apscheduler_the_next_occurrence() -> None:
    r = rule(kind="date_range", start={"month": 6, "day": 1}, end={"month": 9, "day": 30},
             cadence={"every": "weekly", "weekdays": ["tue"]})
    trig = RuleTrigger(r)
    first = trig.get_next_fire_time(None, local(2027, 6, 1, 10, 0, 30))
    assert first == local(2027, 6, 8, 10)
    assert trig.get_next_fire_time(first, first + timedelta(seconds=1)) == local(2027, 6, 15, 10)
    assert "weekly on tue" in str(trig)
