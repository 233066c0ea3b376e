"""Content half of the service: the reviewed template library, safe rendering and SMS rules."""

from alerts.content.hazards import Hazard, default_hazards, load_hazards
from alerts.content.library import Library, LibraryError, Review, Template, record_review
from alerts.content.lint import Problem, lint
from alerts.content.render import (
    RenderError,
    build_campaign_context,
    build_context,
    format_time,
    render,
    render_title,
)
from alerts.content.sms import SmsMeasure, SmsRules, check, measure

__all__ = [
    "Hazard", "Library", "LibraryError", "Problem", "RenderError", "Review", "SmsMeasure", "SmsRules",
    "Template", "build_campaign_context", "build_context", "check", "default_hazards",
    "format_time", "lint", "load_hazards", "measure", "record_review", "render", "render_title",
]
