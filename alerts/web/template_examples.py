"""A rendered example beside each template of the library page: its title and text as a resident would
read them, for an ordinary warning over three townships (never raw Jinja)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.content.hazards import default_hazards
from alerts.content.lint import ALERT_STAGES
from alerts.content.render import TZ, RenderError, build_campaign_context, build_context, render, render_title
from alerts.model import Alert, Info, Level

EXAMPLE_AREAS = ["米山镇", "三甲镇", "神农镇"]
EXAMPLE_TIME = datetime(2026, 7, 12, 5, 30, tzinfo=TZ)
EXAMPLE_ISSUER = "高平市气象台"


@dataclass(frozen=True)
class Example:
    title: str
    text: str
    ok: bool  # False: the template did not render with the example values (the text says why, in Chinese)


def _alert(hazard: str, level: str | None) -> Alert:
    info = Info(language="zh-CN", event=hazard, sender_name=EXAMPLE_ISSUER, onset=EXAMPLE_TIME,
                expires=EXAMPLE_TIME.replace(hour=17), headline="", description="", instruction="", hazard=hazard,
                level=Level(level) if level else None)
    return Alert(identifier="example", sender="example", sent=EXAMPLE_TIME, msg_type="Alert", infos=[info])


def _context(template: Any) -> dict[str, Any]:
    phrase = "、".join(EXAMPLE_AREAS)
    if template.stage not in ALERT_STAGES and template.stage != "brief":
        return build_campaign_context(area_phrase=phrase, area_names=EXAMPLE_AREAS, now=EXAMPLE_TIME,
                                      issuer=EXAMPLE_ISSUER)
    hazard = default_hazards().get(template.hazard)
    levels = list(template.levels) or (hazard.allowed_levels() if hazard else [])
    level = "orange" if "orange" in levels else (levels[0] if levels else None)
    return build_context(_alert(template.hazard, level), hazard_zh=hazard.zh if hazard else template.hazard,
                         area_phrase=phrase, area_names=EXAMPLE_AREAS, issuer_default=EXAMPLE_ISSUER,
                         office=EXAMPLE_ISSUER, previous_level="yellow" if level in ("orange", "red") else "blue",
                         stage=template.stage, channel=template.channel, now=EXAMPLE_TIME)


def example(template: Any) -> Example:
    try:
        context = _context(template)
        return Example(render_title(template, context), render(template, context), True)
    except (RenderError, ValueError, KeyError, TypeError):
        plain = template.title if "{" not in template.title else template.id
        return Example(plain, "（示例无法生成：此模板需要示例中没有的数值，请编辑检查。）", False)
