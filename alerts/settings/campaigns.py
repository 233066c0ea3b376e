"""config/campaigns.yaml: the campaign calendar — rules, audiences, areas, templates, owners."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from alerts.settings._base import Section

TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CAMPAIGN_ID = re.compile(r"^[a-z][a-z0-9_]{1,60}$")
DAYS_IN_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _check_time(value: str) -> str:
    if not TIME.match(value):
        raise ValueError("expected a local time HH:MM such as 10:00")
    return value


def _check_day(month: int, day: int) -> None:
    if day > DAYS_IN_MONTH[month]:
        raise ValueError(f"month {month} has no day {day}")


class MonthDay(Section):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)

    @model_validator(mode="after")
    def _valid(self) -> MonthDay:
        _check_day(self.month, self.day)
        return self


class FixedDateRule(Section):
    """Every year on one date (or once, when `year` is given)."""

    kind: Literal["fixed_date"]
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    year: int | None = Field(None, ge=2000, le=2100)
    time: str = "10:00"

    _time = field_validator("time")(_check_time)

    @model_validator(mode="after")
    def _valid(self) -> FixedDateRule:
        _check_day(self.month, self.day)
        return self


class WeekOfRule(Section):
    """The week (Monday to Sunday) containing a date, on the listed weekdays of that week."""

    kind: Literal["week_of"]
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    weekdays: list[Weekday] = Field(default_factory=lambda: ["mon"], min_length=1)
    time: str = "10:00"

    _time = field_validator("time")(_check_time)

    @model_validator(mode="after")
    def _valid(self) -> WeekOfRule:
        _check_day(self.month, self.day)
        return self


class NthWeekdayRule(Section):
    """The nth weekday of a month (n = 1..5, or -1 for the last), e.g. the fourth Monday of May."""

    kind: Literal["nth_weekday"]
    month: int = Field(ge=1, le=12)
    weekday: Weekday
    n: int = Field(ge=-1, le=5)
    time: str = "10:00"

    _time = field_validator("time")(_check_time)

    @field_validator("n")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("n counts from 1 (first) to 5, or -1 for the last")
        return value


class Cadence(Section):
    """How often inside a date range: daily, weekly on some weekdays (every n weeks), or once at its start."""

    every: Literal["daily", "weekly", "once"] = "weekly"
    weekdays: list[Weekday] = Field(default_factory=lambda: ["tue"], min_length=1)
    every_weeks: int = Field(1, ge=1, le=8)
    time: str = "10:00"

    _time = field_validator("time")(_check_time)


class DateRangeRule(Section):
    """A season from one date to another (it may wrap over New Year) with a cadence."""

    kind: Literal["date_range"]
    start: MonthDay
    end: MonthDay
    cadence: Cadence = Cadence()


class CronRule(Section):
    """A cron expression (minute hour day month weekday) in local time; weekdays by name."""

    kind: Literal["cron"]
    expression: str

    @field_validator("expression")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5:
            raise ValueError("expected 5 fields: minute hour day-of-month month day-of-week, e.g. '0 10 * 6 mon'")
        if not fields[0].isdigit():
            raise ValueError(f"minute {fields[0]!r}: give one minute (e.g. 0); a campaign fires at most once an hour")
        # Cron counts Sunday as 0 and APScheduler counts Monday as 0: numbers would be read wrong.
        if re.search(r"\d", fields[4]) and not re.fullmatch(r"\*/\d+", fields[4]):
            raise ValueError(f"day-of-week {fields[4]!r}: write weekdays by name (mon..sun), numbers are ambiguous")
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="Asia/Shanghai")
        except ValueError as exc:
            raise ValueError(f"not a valid cron expression ({exc})") from None
        return value


Rule = Annotated[
    FixedDateRule | WeekOfRule | NthWeekdayRule | DateRangeRule | CronRule, Field(discriminator="kind")
]


class CampaignConfig(Section):
    id: str
    name: str = Field(min_length=1, max_length=100)
    theme: str = Field(min_length=1)  # a hazard or topic key of the template library
    owner: str = Field(min_length=1)  # the department responsible, e.g. 高平市气象局
    rule: Rule | None = None  # None: on demand only
    audiences: list[str] = Field(default_factory=lambda: ["residents"], min_length=1)
    channels: list[Literal["sms", "notice", "im"]] = Field(default_factory=lambda: ["sms"], min_length=1)
    areas: Literal["all"] | list[str] = "all"  # township codes or names from areas.yaml
    stage: Literal["seasonal", "preparedness", "recovery"] = "seasonal"
    # Explicit template ids; when empty the library is searched by theme, audience, channel and stage.
    templates: list[str] = Field(default_factory=list)
    params: dict[str, str | int | float] = Field(default_factory=dict)  # defaults the templates may use
    enabled: bool = True
    grace_minutes: int | None = Field(None, ge=0, le=10_080)
    defer_during_warnings: bool | None = None
    description: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not CAMPAIGN_ID.match(value):
            raise ValueError("expected a lower-case id of letters, digits and _ such as flood_season")
        return value


class CampaignDefaults(Section):
    # A missed occurrence still fires if found within this many minutes; older ones are recorded as missed.
    grace_minutes: int = Field(240, ge=0, le=10_080)
    # The warning's advice comes first: an occurrence waits while a warning for its areas is open.
    defer_during_warnings: bool = True
    retry_deferred_minutes: int = Field(30, ge=1, le=1440)
    give_up_deferred_after_hours: int = Field(72, ge=1, le=720)
    # How far back a restart looks for occurrences it did not record.
    catch_up_days: int = Field(7, ge=1, le=60)
    # An unapproved campaign draft goes stale after this long.
    draft_expires_hours: int = Field(48, ge=1, le=720)
    # How often the sweep runs (catch-up, deferred retries, config reload).
    sweep_minutes: int = Field(5, ge=1, le=60)


class CampaignsFile(Section):
    defaults: CampaignDefaults = CampaignDefaults()
    campaigns: list[CampaignConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> CampaignsFile:
        seen: set[str] = set()
        for c in self.campaigns:
            if c.id in seen:
                raise ValueError(f"campaign id {c.id!r} is used twice; ids must be unique")
            seen.add(c.id)
        return self

    def get(self, campaign_id: str) -> CampaignConfig | None:
        return next((c for c in self.campaigns if c.id == campaign_id), None)

    def grace_minutes(self, c: CampaignConfig) -> int:
        return self.defaults.grace_minutes if c.grace_minutes is None else c.grace_minutes

    def defers(self, c: CampaignConfig) -> bool:
        return self.defaults.defer_during_warnings if c.defer_during_warnings is None else c.defer_during_warnings
