"""Offline checks of the template library: schema, review, syntax, worst-case SMS length, sourcing."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.content.hazards import Hazard, default_hazards
from alerts.content.library import Library, Template
from alerts.content.render import (
    TZ,
    RenderError,
    build_campaign_context,
    build_context,
    check_syntax,
    render,
    render_title,
)
from alerts.content.sms import SmsRules, check
from alerts.content.voice import source_problems, text_problems
from alerts.model import Alert, Info, Level

# Worst cases the library must survive: a 20-character area phrase (four names, or the first names
# and a count, alerts/areas.py), the longest issuer configured (service check passes it), the longest
# times (12月31日23时59分; 31日23时59分 for the issue time and how long the warning is in force) and a
# previous level for the change texts.
WORST_AREA = "北城街道、东城街道、南城街道等15个乡镇"
WORST_AREA_NAMES = ["北城街道", "东城街道", "南城街道", "米山镇", "三甲镇"]
WORST_ISSUER = "高平市气象台"
WORST_TIME = datetime(2025, 12, 31, 23, 59, tzinfo=TZ)  # 12月31日23时59分: the longest date
WORST_PREVIOUS_LEVEL = "orange"
# Free alert text has no length bound, so an SMS that quotes it can never be shown to fit.
LONG_TEXT = "长" * 300
ALERT_STAGES = ("warning", "update", "raise", "lower", "extend", "narrow", "all_clear", "withdraw", "expiry")
# A combined message quotes one brief line per hazard (alerts/combine.py): at most this many characters.
BRIEF_MAX = 14
# Every warning SMS says when it was issued.
TIME_VARIABLE = re.compile(r"\{\{\s*(?:issued|issued_en|sent)\s*\}\}")
# ...and a spoken warning says it in words (二十八日下午两点十分).
SPOKEN_TIME_VARIABLE = re.compile(r"\{\{\s*issued_spoken\s*\}\}")
# Resident texts that need a spoken version (issue 17): zh-CN SMS of these stages to these audiences.
SPOKEN_STAGES = {"warning": ("residents",), "all_clear": ("residents",), "seasonal": ("residents", "elderly"),
                 "preparedness": ("residents", "elderly")}
# Phrases by which a text would itself issue a warning rather than cite the official one.
SELF_ISSUE_PHRASES = (
    "现发布", "特发布", "特此预警", "紧急预警", "本平台发布", "我们发布", "我台发布", "我局发布", "本中心发布",
    "we issue", "we have issued", "hereby",
)
ISSUER_VARIABLE = re.compile(r"\{\{\s*issuer\s*\}\}")


@dataclass(frozen=True)
class Problem:
    code: str  # load, review, location, level, syntax, science, render, sms (length, rules, sourcing), voice, coverage, sample
    template_id: str
    path: str
    message: str

    def __str__(self) -> str:
        where = self.path or "library"
        subject = f" {self.template_id}" if self.template_id else ""
        return f"{where}: [{self.code}]{subject}: {self.message}"


def worst_alert(hazard: str, level: str, issuer: str = WORST_ISSUER, msg_type: str = "Alert") -> Alert:
    """A synthetic alert with the longest values the context can hold."""
    info = Info(
        language="zh-CN", event=hazard, sender_name=issuer, onset=WORST_TIME, expires=WORST_TIME,
        headline=LONG_TEXT, description=LONG_TEXT, instruction=LONG_TEXT,
        hazard=hazard, level=Level(level) if level else None,
    )
    return Alert(identifier="lint", sender="lint", sent=WORST_TIME, msg_type=msg_type, infos=[info])


def worst_contexts(template: Template, hazard: Hazard, area: str, issuer: str) -> Iterator[dict[str, Any]]:
    """Every context the template must render within limits: one per level it may meet."""
    if template.stage not in ALERT_STAGES and template.stage != "brief":
        yield build_campaign_context(
            area_phrase=area, area_names=WORST_AREA_NAMES, params={}, now=WORST_TIME, issuer=issuer
        )
        return
    for level in template.levels or hazard.allowed_levels():
        yield build_context(
            worst_alert(hazard.key, level, issuer),
            hazard_zh=hazard.zh, area_phrase=area, area_names=WORST_AREA_NAMES, issuer_default=issuer,
            office=issuer, previous_level=WORST_PREVIOUS_LEVEL, stage=template.stage, channel=template.channel,
        )


def _sms_problems(template: Template, context: dict[str, Any], body: str, rules: SmsRules) -> list[str]:
    problems = [f"level {context['level'] or '-'}: {p}" for p in check(body, rules)]
    lowered = body.lower()
    for phrase in SELF_ISSUE_PHRASES:
        if phrase in lowered:
            problems.append(f"contains {phrase!r}: our texts cite the official warning, they never issue one")
    if template.stage in ALERT_STAGES:
        cites = "warning" if template.language == "en" else "预警"
        if not ISSUER_VARIABLE.search(template.text) and cites not in body:
            problems.append(f"does not name its source: use {{{{ issuer }}}} or cite the {cites}")
        if template.audience in ("residents", "elderly") and not TIME_VARIABLE.search(template.text):
            problems.append("does not say when the warning was issued: use {{ issued }} (28日14时10分)")
    if template.stage == "brief" and len(body) > BRIEF_MAX:
        problems.append(f"level {context['level'] or '-'}: a brief line has {len(body)} characters; a combined "
                        f"message fits only {BRIEF_MAX} per hazard")
    return problems


def _voice_problems(template: Template, hazard: Hazard, context: dict[str, Any], body: str) -> list[str]:
    problems = text_problems(body)
    for phrase in SELF_ISSUE_PHRASES:
        if phrase in body.lower():
            problems.append(f"contains {phrase!r}: our texts cite the official warning, they never issue one")
    if template.stage in ALERT_STAGES:
        if not ISSUER_VARIABLE.search(template.text):
            problems.append("does not name its source: say {{ issuer }}于{{ issued_spoken }}…")
        if not SPOKEN_TIME_VARIABLE.search(template.text):
            problems.append("does not say when the warning was issued: use {{ issued_spoken }} (二十八日下午两点十分)")
        # The listener hears what it is about before anything else (暴雨橙色预警。).
        if not body.startswith(hazard.zh[:2]):
            problems.append(f"does not start with the hazard: begin with {hazard.zh}{context['level_name']}…")
    return problems


# --- the science in the texts (issue 18): advice that could hurt, caught before review -----------

# Hazards that come in the heating season (about October to March, DOMAIN.md §6). Many rural homes in
# Gaoping heat with coal: a text that tells them to shut windows or stay in must also keep the stove
# vented, or it can cause carbon-monoxide poisoning.
HEATING_SEASON_HAZARDS = ("cold_wave", "blizzard", "gale", "sandstorm", "haze", "fog", "road_icing", "frost",
                          "co_poisoning")
SEALING = re.compile(r"关[好紧闭]?门窗|关窗|门窗紧闭|留在室内|待在室内|不外出|不出门")
STOVE_CARE = re.compile(r"一氧化碳|煤气|炉|燃煤|烧煤")
# Only the education bureau decides school arrangements; our texts point to its notice.
CLOSURE_WORDS = ("停课", "停学", "放假", "复课", "停业")
EDUCATION_NOTICE = "教育部门"
SENTENCE = re.compile(r"[^。；！？\n]+")
# Smoke pots in orchards start fires unless watched and kept away from woods and straw.
SMOKE_POT = "熏烟"
FIRE_CAUTION = re.compile(r"看守|远离山林|远离.{0,4}柴草|防火|防止引发火灾")


def science_problems(template: Template) -> list[str]:
    """Advice that could hurt: sealing a coal-heated home, announcing closures, unwatched smoke pots."""
    text = template.text
    problems: list[str] = []
    sealing = SEALING.search(text) if template.hazard in HEATING_SEASON_HAZARDS else None
    if sealing and template.language == "zh-CN" and not STOVE_CARE.search(text):
        problems.append(f"says {sealing.group(0)!r} in the heating season without keeping the coal stove vented: "
                        "add e.g. 燃煤取暖要留缝通风 (carbon-monoxide poisoning)")
    for sentence in SENTENCE.findall(text):
        for word in CLOSURE_WORDS:
            if word in sentence and (word == "停业" or EDUCATION_NOTICE not in sentence):
                problems.append(f"announces a closure ({word!r} in {sentence.strip()!r}): only the education bureau "
                                "decides; write e.g. 学校安排请关注教育部门通知")
    if SMOKE_POT in text and not FIRE_CAUTION.search(text):
        problems.append("recommends smoke pots (熏烟) without fire caution: add 远离山林柴草、专人看守")
    return problems


# Shipped reviews are examples: names marked like this are placeholders, not a real sign-off.
PLACEHOLDER_MARK = "示例"


def placeholder_reviews(library: Library) -> list[str]:
    """Templates whose review names a placeholder reviewer or approver: refused in production."""
    return [f"{t.path}: [review] {t.id}: reviewed by {t.review.reviewed_by!r}, approved by {t.review.approved_by!r} — "
            "a shipped example, not a real review; have the expert team and the emergency bureau review it "
            "(alerts templates review ID --by … --approved-by …)"
            for t in library.templates
            if t.review is not None and (PLACEHOLDER_MARK in t.review.reviewed_by or PLACEHOLDER_MARK in t.review.approved_by)]


def _lint_template(
    template: Template, hazard: Hazard, rules: SmsRules, area: str, issuer: str
) -> Iterator[tuple[str, str]]:
    if template.status != "reviewed":
        yield "review", f"status {template.status}: needs expert review before use"
    if template.path.parent.name != template.hazard or not template.id.startswith(template.hazard + "."):
        yield "location", f"expected under {template.hazard}/ with an id starting '{template.hazard}.'"
    stray = set(template.levels) - set(hazard.allowed_levels())
    if stray:
        yield "level", f"levels {sorted(stray)} do not exist for {hazard.key} (has {list(hazard.allowed_levels())})"
    try:
        check_syntax(template)
    except RenderError as exc:
        yield "syntax", str(exc)
        return
    if template.channel == "voice":
        for message in source_problems(template.text):
            yield "voice", message
    for message in science_problems(template):
        yield "science", message
    said: set[str] = set()  # a voice problem is named once, not once per level
    for context in worst_contexts(template, hazard, area, issuer):
        try:
            render_title(template, context)
            body = render(template, context)
        except RenderError as exc:
            yield "render", str(exc)
            return
        if template.channel == "sms":
            for message in _sms_problems(template, context, body, rules):
                yield "sms", message
        if template.channel == "voice":
            for message in _voice_problems(template, hazard, context, body):
                if message not in said:
                    said.add(message)
                    yield "voice", message


def coverage_problems(library: Library, hazards: Mapping[str, Hazard]) -> list[str]:
    """What the CMA table and the alert hazards require that the library lacks (reviewed only)."""
    reviewed = Library(library.directory, [t for t in library.templates if t.status == "reviewed"], [])
    missing: list[str] = []
    for hazard in hazards.values():
        if hazard.kind == "signal":
            for level in hazard.levels:
                if not reviewed.find(hazard.key, level, "residents", "sms", "warning"):
                    missing.append(f"{hazard.key} {level}: no reviewed residents SMS for the warning")
                if not reviewed.find(hazard.key, level, "schools", "notice", "warning"):
                    missing.append(f"{hazard.key} {level}: no reviewed schools notice")
        if hazard.is_alert and hazard.key != "fraud_rumour":
            if not reviewed.find(hazard.key, None, "residents", "sms", "all_clear"):
                missing.append(f"{hazard.key}: no reviewed all-clear SMS")
    missing.extend(spoken_coverage_problems(reviewed, hazards))
    return missing


def spoken_coverage_problems(reviewed: Library, hazards: Mapping[str, Hazard]) -> list[str]:
    """Resident warning, all-clear and campaign SMS without a reviewed spoken version (issue 17).

    The spoken version of `heat.red.residents.sms` is `heat.red.residents.voice`. A warning's voice
    scripts may be cut by level differently (flash floods: one SMS, a script per level group): then
    every level the SMS may meet must find a script of the same hazard, audience and stage. A
    campaign text needs its own twin, as each one speaks of something else."""
    missing: list[str] = []
    by_id = {t.id: t for t in reviewed.templates}
    for sms in reviewed.templates:
        audiences = SPOKEN_STAGES.get(sms.stage, ())
        if sms.channel != "sms" or sms.language != "zh-CN" or sms.audience not in audiences:
            continue
        twin = by_id.get(sms.id.removesuffix(".sms") + ".voice")
        levels: tuple[str | None, ...] = (None,) if sms.stage not in ALERT_STAGES else (
            sms.levels or hazards[sms.hazard].allowed_levels())
        expected = f"{sms.hazard}/{sms.id.removeprefix(sms.hazard + '.').removesuffix('.sms')}.voice.yaml"
        if twin is not None and (twin.hazard, twin.audience, twin.stage, twin.language) != (
                sms.hazard, sms.audience, sms.stage, sms.language):
            missing.append(f"{sms.id}: its spoken version {twin.id} has another hazard, audience, stage or language; "
                           "expected the same as the SMS")
            continue
        lacking = [lv for lv in levels
                   if not (twin is not None and twin.matches_level(lv))
                   and not (sms.stage in ALERT_STAGES and reviewed.find(sms.hazard, lv, sms.audience, "voice",
                                                                        sms.stage))]
        if lacking and twin is not None:
            missing.append(f"{sms.id}: its spoken version {twin.id} has levels {list(twin.levels)}, which leave out "
                           f"{', '.join(str(lv) for lv in lacking)}; expected the levels of the SMS {list(sms.levels)}")
        elif lacking:
            # Levels are named only when some are covered: "no spoken version at level red".
            partial = len(lacking) < len(levels)
            shown = " at level " + ", ".join(str(lv) for lv in lacking) if partial else ""
            missing.append(f"{sms.id}: no reviewed spoken version{shown}; expected {expected} "
                           "(templates/README.md, Spoken versions)")
    return missing


def lint(
    library: Library,
    rules: SmsRules | None = None,
    sample_alerts: Sequence[Alert] = (),
    *,
    area: str = WORST_AREA,
    issuer: str = WORST_ISSUER,
    hazards: Mapping[str, Hazard] | None = None,
    coverage: bool = True,
) -> list[Problem]:
    """Every problem that should stop the library from shipping; empty when it is fit to use."""
    rules = rules or SmsRules()
    hazards = default_hazards() if hazards is None else hazards
    problems = [Problem("load", "", line.split(":", 1)[0], line) for line in library.problems]
    for template in library.templates:
        hazard = hazards[template.hazard]
        for code, message in _lint_template(template, hazard, rules, area, issuer):
            problems.append(Problem(code, template.id, str(template.path), message))
    for alert in sample_alerts:
        problems.extend(_lint_sample(library, alert, rules, area, hazards))
    if coverage:
        problems.extend(Problem("coverage", "", "", message) for message in coverage_problems(library, hazards))
    return problems


def _lint_sample(
    library: Library, alert: Alert, rules: SmsRules, area: str, hazards: Mapping[str, Hazard]
) -> Iterator[Problem]:
    """Render the SMS texts a real alert would select, with the worst area phrase."""
    hazard = hazards.get(alert.hazard or "")
    if hazard is None:
        return
    from alerts.chain import guess_stage, template_stage

    chain_stage = guess_stage(alert)
    stage = template_stage(chain_stage)
    level = alert.level.value if alert.level else None
    context = build_context(
        alert, hazard_zh=hazard.zh, area_phrase=area, area_names=WORST_AREA_NAMES, issuer_default=WORST_ISSUER,
        office=WORST_ISSUER, previous_level=WORST_PREVIOUS_LEVEL, stage=chain_stage, channel="sms",
    )
    for audience in ("residents", "elderly"):
        for template in library.find(hazard.key, level, audience, "sms", stage):
            try:
                body = render(template, context)
            except RenderError as exc:
                yield Problem("sample", template.id, str(template.path), f"alert {alert.identifier}: {exc}")
                continue
            for message in check(body, rules):
                yield Problem("sample", template.id, str(template.path), f"alert {alert.identifier}: {message}")
