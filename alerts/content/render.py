"""Safe rendering of library templates: sandboxed jinja2, strict variables, the context contract."""

from __future__ import annotations

import re
import traceback
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from alerts.content.library import Template
from alerts.content.spoken import area_spoken, day_time_spoken, in_force_spoken
from alerts.model import LEVEL_ZH, Alert, Level

TZ = ZoneInfo("Asia/Shanghai")
# SMS lengths are checked against this many characters of area phrase (alerts/areas.py builds it).
AREA_PHRASE_MAX = 20
LEVEL_ROMAN = {"blue": "Ⅳ级", "yellow": "Ⅲ级", "orange": "Ⅱ级", "red": "Ⅰ级"}
# The alert's own free text. Notices may quote it; a text for a resident's phone never gets it
# (SMS, voice and group-chat contexts lack these keys, so a template using them fails to render
# and `alerts check` names it): outside words never reach residents.
FREE_TEXT_KEYS = ("headline", "description", "instruction")
SHORT_CHANNELS = ("sms", "voice", "im")
CONTEXT_KEYS = (
    "issuer", "event", "level", "level_name", "level_roman", "areas", "area_list",
    "onset", "expires", "sent", "issued", "issued_en", "valid_until", "in_force", "previous_level_name",
    "stage",
    # Spoken versions for voice scripts (alerts/content/spoken.py): no digits for a TTS to misread.
    "issued_spoken", "in_force_spoken", "areas_spoken",
    "headline", "description", "instruction", "params", "now",
)


class RenderError(Exception):
    """A template failed to compile or render; the message names template, line and variable."""

    def __init__(self, template_id: str, line: int | None, detail: str, variable: str | None = None) -> None:
        self.template_id = template_id
        self.line = line
        self.variable = variable
        where = f"line {line}" if line else "unknown line"
        super().__init__(f"template {template_id}, {where}: {detail}")


def _environment(html: bool) -> SandboxedEnvironment:
    # trim/lstrip let {% if %} sit on their own lines without leaving blank lines behind.
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, trim_blocks=True, lstrip_blocks=True
    )


_ENVIRONMENTS = {False: _environment(False), True: _environment(True)}


@lru_cache(maxsize=1024)
def _compile(name: str, source: str, html: bool) -> JinjaTemplate:
    env = _ENVIRONMENTS[html]
    try:
        code = env.compile(source, name=name, filename=name)
    except TemplateSyntaxError as exc:
        raise RenderError(name, exc.lineno, f"syntax error: {exc.message}") from exc
    return env.template_class.from_code(env, code, env.make_globals(None))


def check_syntax(template: Template) -> None:
    """Compile the title and text; raise RenderError on a syntax error."""
    _compile(template.id, template.text, False)
    _compile(f"{template.id}#title", template.title, False)


def _render_source(name: str, source: str, context: dict[str, Any], html: bool) -> str:
    compiled = _compile(name, source, html)
    try:
        return compiled.render(context)
    except TemplateError as exc:
        # jinja rewrites tracebacks so that template frames carry the template name and line.
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == name]
        line = frames[-1].lineno if frames else None
        message = str(exc.message if exc.message else exc)
        found = re.search(r"'([^']+)' is undefined|has no attribute '([^']+)'", message)
        variable = next((g for g in found.groups() if g), None) if found else None
        raise RenderError(name, line, message, variable) from exc


def _join_lines(text: str) -> str:
    # SMS and voice are one paragraph: Chinese joins without spaces, Latin words keep one.
    out = ""
    for line in (part.strip() for part in text.splitlines()):
        if not line:
            continue
        latin_end = out[-1:].isascii() and (out[-1:].isalnum() or out[-1:] in ",.;:!?")
        if out and latin_end and line[0].isascii():
            out += " "
        out += line
    return out


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def render(template: Template, context: dict[str, Any], *, html: bool = False) -> str:
    """Render a template's text; html=True (notices only) escapes values and wraps paragraphs."""
    if html and template.channel != "notice":
        raise ValueError(f"template {template.id}: HTML rendering is for notices, not channel {template.channel}")
    text = _render_source(template.id, template.text, context, html)
    if template.channel in ("sms", "voice"):
        return _join_lines(text)
    text = _tidy(text)
    if not html:
        return text
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    # text came out of an autoescaping render, so it is already safe HTML.
    return "\n".join(
        Markup("<p>{}</p>").format(Markup("<br>\n").join(Markup(line) for line in p.split("\n")))
        for p in paragraphs
    )


def render_title(template: Template, context: dict[str, Any], *, html: bool = False) -> str:
    """Render the template's title (titles may use the same variables as texts)."""
    title = _render_source(f"{template.id}#title", template.title, context, False).strip()
    return str(escape(title)) if html else title


def format_time(moment: datetime | None) -> str:
    """Chinese style local time such as 11月28日14时30分 (Asia/Shanghai); '' when unknown."""
    if moment is None:
        return ""
    local = moment.astimezone(TZ) if moment.tzinfo else moment.replace(tzinfo=TZ)
    minutes = f"{local.minute:02d}分" if local.minute else ""
    return f"{local.month}月{local.day}日{local.hour}时{minutes}"


def format_day_time(moment: datetime | None) -> str:
    """Day and local time as an SMS says it, 28日14时10分 (Asia/Shanghai); '' when unknown."""
    if moment is None:
        return ""
    local = moment.astimezone(TZ) if moment.tzinfo else moment.replace(tzinfo=TZ)
    minutes = f"{local.minute:02d}分" if local.minute else ""
    return f"{local.day}日{local.hour}时{minutes}"


def in_force(expires: datetime | None) -> str:
    """How long a warning is in force, as a phrase an SMS ends with."""
    return f"有效至{format_day_time(expires)}" if expires is not None else "解除时另行通知"


def format_day_time_en(moment: datetime | None) -> str:
    """The same for English texts: 28/11 14:10 (day/month, Asia/Shanghai); '' when unknown."""
    if moment is None:
        return ""
    local = moment.astimezone(TZ) if moment.tzinfo else moment.replace(tzinfo=TZ)
    return f"{local.day}/{local.month} {local.hour:02d}:{local.minute:02d}"


def _check_area(area: str) -> None:
    if len(area) > AREA_PHRASE_MAX:
        raise ValueError(
            f"area phrase {area!r} has {len(area)} characters; at most {AREA_PHRASE_MAX} keep SMS "
            "within their length (shorten it, e.g. 高平市5个乡镇)"
        )


def build_context(
    alert: Alert,
    *,
    hazard_zh: str,
    area_phrase: str,
    area_names: list[str],
    issuer_default: str,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
    office: str | None = None,
    previous_level: str | None = None,
    stage: str = "new",
    channel: str = "notice",
) -> dict[str, Any]:
    """The variables a warning template may use: whitelisted values only (hazard, level, the office
    from configuration, area names, times). `office` is the configured issuing office; the alert's
    free-text senderName is never used. Texts for phones (sms, voice, im) get no free text at all."""
    _check_area(area_phrase)
    info = alert.primary_info("zh")
    level = alert.level.value if alert.level else ""
    context: dict[str, Any] = {
        "issuer": office or issuer_default,
        "event": hazard_zh,
        "level": level,
        "level_name": LEVEL_ZH[Level(level)] if level else "",
        "level_roman": LEVEL_ROMAN.get(level, ""),
        "areas": area_phrase,
        "area_list": "、".join(area_names),
        "onset": format_time(info.onset if info else None),
        "expires": format_time(alert.expires),
        "sent": format_time(alert.sent),
        # Issue time and how long the warning is in force, as an SMS says them (28日14时10分).
        "issued": format_day_time(alert.sent),
        "valid_until": format_day_time(alert.expires),
        # The same as one phrase with no gap when the source gives no expiry: a registered SMS
        # template cannot hold a condition, so "有效至…" or "解除时另行通知" is one variable.
        "in_force": in_force(alert.expires),
        "issued_en": format_day_time_en(alert.sent),
        # Voice scripts say the same in words: 二十八日下午两点十分, 有效到二十九日下午两点, 等九个乡镇.
        "issued_spoken": day_time_spoken(alert.sent),
        "in_force_spoken": in_force_spoken(alert.expires),
        "areas_spoken": area_spoken(area_phrase),
        "previous_level_name": LEVEL_ZH[Level(previous_level)] if previous_level else "",
        "stage": stage,
        "params": dict(params or {}),
        # `now` only feeds campaign contexts today; accepted here so callers pass one clock.
        "now": format_time(now) if now else "",
    }
    if channel not in SHORT_CHANNELS:
        context.update(headline=info.headline if info else "", description=info.description if info else "",
                       instruction=info.instruction if info else "")
    return context


def build_campaign_context(
    *,
    area_phrase: str,
    area_names: list[str],
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
    issuer: str = "",
) -> dict[str, Any]:
    """The variables of a seasonal or preparedness text: no alert, so alert fields are empty."""
    _check_area(area_phrase)
    moment = format_time(now or datetime.now(TZ))
    return {
        "issuer": issuer,
        "event": "",
        "level": "",
        "level_name": "",
        "level_roman": "",
        "areas": area_phrase,
        "area_list": "、".join(area_names),
        "onset": "",
        "expires": "",
        "sent": moment,
        "issued": format_day_time(now or datetime.now(TZ)),
        "valid_until": "",
        "in_force": "",
        "issued_en": format_day_time_en(now or datetime.now(TZ)),
        "issued_spoken": day_time_spoken(now or datetime.now(TZ)),
        "in_force_spoken": "",
        "areas_spoken": area_spoken(area_phrase),
        "previous_level_name": "",
        "stage": "",
        "headline": "",
        "description": "",
        "instruction": "",
        "params": dict(params or {}),
        "now": moment,
    }
