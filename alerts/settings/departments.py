"""config/departments.yaml: the coordination mechanism's departments, their duty rosters and their tasks."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from alerts.settings._base import Section

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


def minutes(hhmm: str) -> int:
    """'08:30' → 510; '24:00' → 1440."""
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class Contact(Section):
    key: str
    name: str
    role: str = ""
    phone: str | None = None  # E.164; checked by `alerts check`
    channels: list[Literal["sms", "voice"]] = Field(default_factory=lambda: ["sms"])


class Shift(Section):
    contact: str
    days: list[str] | Literal["all"] = "all"
    start: str = Field(alias="from")
    end: str = Field(alias="to")

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        if not _HHMM.match(value) or minutes(value) > 1440:
            raise ValueError(f"{value!r} is not a time like 08:00 (00:00 to 24:00)")
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            bad = [d for d in value if d not in DAYS]
            if bad:
                raise ValueError(f"unknown day(s) {', '.join(map(repr, bad))}: use {', '.join(DAYS)} or 'all'")
        return value

    def day_list(self) -> tuple[str, ...]:
        return DAYS if self.days == "all" else tuple(self.days)


class Department(Section):
    name: str  # full name, e.g. 高平市教育（科技）局
    short: str  # as people say it, e.g. 市教育局
    lead: bool = False
    members: list[str] = Field(default_factory=list)  # console users who act for it
    contacts: list[Contact] = Field(default_factory=list)
    # Organisation keys (alerts organisations import, kind department) whose IM robots reach its duty group.
    groups: list[str] = Field(default_factory=list)
    roster: list[Shift] = Field(default_factory=list)

    @model_validator(mode="after")
    def _roster_names_contacts(self) -> Department:
        keys = [c.key for c in self.contacts]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"contacts: key(s) {', '.join(dup)} used twice")
        for i, shift in enumerate(self.roster):
            if shift.contact not in keys:
                raise ValueError(f"roster[{i}].contact: {shift.contact!r} is not one of this department's "
                                 f"contacts ({', '.join(keys) or 'none'})")
        return self


class TaskEntry(Section):
    department: str
    task: str  # a task notice in templates/tasks/<task>.yml
    due_minutes: int = Field(60, gt=0, le=7 * 24 * 60)


class DepartmentsConfig(Section):
    departments: dict[str, Department] = Field(default_factory=dict)
    # hazard key (or "default", for every hazard) → level → tasks. A hazard's own list adds to the
    # default list; the same department and task in both keeps the hazard's due time.
    tasks: dict[str, dict[Literal["blue", "yellow", "orange", "red"], list[TaskEntry]]] = Field(default_factory=dict)

    @field_validator("departments")
    @classmethod
    def _keys(cls, value: dict[str, Department]) -> dict[str, Department]:
        for key in value:
            if not _KEY.match(key):
                raise ValueError(f"department key {key!r}: use lower-case letters, digits and _ (e.g. jyj)")
        return value

    @model_validator(mode="after")
    def _known_departments(self) -> DepartmentsConfig:
        for hazard, levels in self.tasks.items():
            for level, entries in levels.items():
                for i, t in enumerate(entries):
                    if t.department not in self.departments:
                        raise ValueError(f"tasks.{hazard}.{level}[{i}].department: {t.department!r} is not a "
                                         f"department of this file ({', '.join(self.departments)})")
        return self

    def tasks_for(self, hazard: str | None, level: str | None) -> list[TaskEntry]:
        if level is None:
            level = "orange"  # an emergency notice without a colour level gets the orange tasks
        chosen: dict[tuple[str, str], TaskEntry] = {}
        for source in ("default", hazard or ""):
            for t in self.tasks.get(source, {}).get(level, []):  # type: ignore[call-overload]
                chosen[(t.department, t.task)] = t
        return list(chosen.values())


def departments_config(settings: object) -> DepartmentsConfig:
    """config/departments.yaml, validated once (no departments when the file is absent: `alerts check` says so)."""
    from alerts.settings import load_optional

    return load_optional(settings, "departments.yaml", DepartmentsConfig)  # type: ignore[arg-type]
