"""`alerts check` for events: every warning at orange or above has tasks, every task a department with
a 24-hour duty roster, every notice and skeleton is reviewed and fits an SMS, and someone is on duty."""

from __future__ import annotations

from typing import Any

from alerts.channels.sms.templates import FILE, RegistryError, load_registry
from alerts.content.lint import WORST_AREA
from alerts.content.sms import check as check_sms
from alerts.events.departments import roster_gaps
from alerts.events.registered import registry_problems, shape_problems
from alerts.events.skeletons import FOLDERS, Skeletons
from alerts.model import level_rank
from alerts.recipients import normalise_phone
from alerts.settings import ConfigError, Settings
from alerts.settings.departments import departments_config
from alerts.settings.events import events_config

LONG_EVENT = "地质灾害气象风险红色预警"  # the longest event phrase a notice may carry
LONG_AREAS = "高平市12个乡镇"
LONG_DUE = "12月31日23时59分"
LONG_UNIT = "某某镇某某村民委员会"
CHANNELS = ("sms", "voice", "im")


def event_problems(settings: Settings, hazards: Any | None, sms_rules: Any) -> list[str]:
    cfg_dir = settings.config_dir
    file = cfg_dir / "departments.yaml"
    try:
        events = events_config(settings)
        config = departments_config(settings)
    except ConfigError as exc:
        return list(exc.lines)
    problems: list[str] = []
    if not file.exists():
        problems.append(f"{file}: missing file — the mechanism's departments, duty rosters and event tasks are "
                        "configured there (see the shipped example)")
    # Every hazard that can arrive, at every level from orange up, gets tasks when its event opens.
    if hazards is not None:
        for key in hazards.keys():
            for level in hazards.levels(key):
                if level_rank(level.value) >= level_rank("orange") and not config.tasks_for(key, level.value):
                    problems.append(f"{file}: tasks: no task for {key} {level.value} — add tasks under "
                                    f"tasks.default.{level.value} or tasks.{key}.{level.value}")
    used = {t.department for levels in config.tasks.values() for entries in levels.values() for t in entries}
    used.add(events.tasks.duty_office)
    for key in sorted(used):
        dept = config.departments.get(key)
        if dept is None:
            problems.append(f"{cfg_dir / 'events.yaml'}: tasks.duty_office: {key!r} — not a department of "
                            "departments.yaml")
            continue
        gaps = roster_gaps(dept)
        if gaps:
            shown = ", ".join(gaps[:4]) + (f" and {len(gaps) - 4} more" if len(gaps) > 4 else "")
            problems.append(f"{file}: departments.{key}.roster: nobody with a phone is on duty {shown} — a department "
                            "with event tasks needs a 24-hour roster (shifts covering every hour of every day)")
    for key, dept in config.departments.items():
        for i, c in enumerate(dept.contacts):
            if c.phone is not None and normalise_phone(c.phone) is None:
                problems.append(f"{file}: departments.{key}.contacts[{i}].phone: {c.phone!r} — not a phone number "
                                "(use E.164, e.g. +8613800000000)")
    for section in ("callout", "institutions", "tasks"):
        policy = getattr(events, section)
        for where, channels in [(f"{section}.first_channels", policy.first_channels)] + [
                (f"{section}.steps[{i}].channels", s.channels) for i, s in enumerate(policy.steps)]:
            for c in channels:
                if c not in CHANNELS:
                    problems.append(f"{cfg_dir / 'events.yaml'}: {where}: {c!r} — expected some of {', '.join(CHANNELS)}")
    problems.extend(_skeleton_problems(settings, config, sms_rules))
    duty = settings.workflow.duty
    if not duty.people("primary"):
        problems.append(f"{cfg_dir / 'workflow.yaml'}: duty.primary: empty — nobody would be paged about a waiting "
                        "warning; name the on-duty approvers (and their phones)")
    for which in ("primary", "backup"):
        for i, p in enumerate(duty.people(which)):  # type: ignore[arg-type]
            if p.phone is not None and normalise_phone(p.phone) is None:
                problems.append(f"{cfg_dir / 'workflow.yaml'}: duty.{which}[{i}].phone: {p.phone!r} — not a phone number")
    return problems


def _skeleton_problems(settings: Settings, config: Any, sms_rules: Any) -> list[str]:
    skeletons = Skeletons.load(settings.templates_dir)
    problems = list(skeletons.problems)
    longest_dept = max((d.short for d in config.departments.values()), key=len, default="")
    needed = {("task", t.task) for levels in config.tasks.values() for entries in levels.values() for t in entries}
    needed |= {("callout", "callout"), ("callout", "institution"), ("rumour", "response"), ("reminder", "approval_reminder")}
    for kind, key in sorted(needed):
        sk = skeletons.get(kind, key)
        if sk is None:
            problems.append(f"{settings.templates_dir}: no {kind} skeleton {key!r} "
                            f"(expected templates/{FOLDERS[kind]}/{key}.yml)")
    for sk in skeletons.by_key.values():
        problems.extend(shape_problems(sk))
        if sk.status != "reviewed":
            problems.append(f"{sk.path}: {sk.status} — review the wording and stamp it "
                            "(python -m alerts.events.stamp FILE --reviewed-by ... --approved-by ...)")
        for d in sk.departments:
            if d not in config.departments:
                problems.append(f"{sk.path}: departments: {d!r} is not a department of departments.yaml")
        if "sms" in sk.texts:
            context = {"event": LONG_EVENT, "areas": LONG_AREAS, "due": LONG_DUE, "issuer": settings.service.issuer_default,
                       "department": longest_dept, "unit": LONG_UNIT, **{f.name: "字" * f.max for f in sk.fields}}
            try:
                found = check_sms(sk.render("sms", context), sms_rules)
            except Exception as exc:  # noqa: BLE001 - reported as the skeleton's problem
                found = [str(exc)]
            for p in found:
                problems.append(f"{sk.path}: texts.sms with the longest values: {p}")
    problems.extend(_registered_problems(settings, skeletons, longest_dept))
    return problems


def _registered_problems(settings: Settings, skeletons: Skeletons, longest_dept: str) -> list[str]:
    """Every skeleton's SMS registered with each domestic provider of sms_providers.yaml, same wording."""
    try:
        registry = load_registry(settings.config_dir / FILE)
    except RegistryError:
        return []  # reported by the SMS part of the check
    issuer = max([settings.service.issuer_default, *settings.service.issuers.values()], key=len)
    longest = {"event": LONG_EVENT, "areas": max(WORST_AREA, LONG_AREAS, key=len), "due": LONG_DUE,
               "issuer": issuer, "department": longest_dept, "unit": LONG_UNIT}
    return registry_problems(registry, skeletons, longest)
