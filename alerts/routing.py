"""The route tree: for an alert, which routes match (and why) and which messages to draft."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerts.areas import Areas
from alerts.chain import guess_stage, template_stage
from alerts.clock import SHANGHAI
from alerts.model import Alert, level_rank
from alerts.settings import ConfigError, describe_validation_error
from alerts.settings.routes import Match, Route, RoutesConfig, Yield

ROOT = "(defaults)"  # how the root's own conditions are shown among the matched routes


@dataclass
class Matched:
    route: str  # dotted path of route names, e.g. "warnings.rainstorm"
    why: list[str]


@dataclass
class Planned:
    """One message to draft: a template for an audience on a channel, over some areas."""

    route: str
    template: str
    audience: str
    channel: str
    stage: str
    language: str
    areas: list[str]


@dataclass
class Plan:
    matched: list[Matched] = field(default_factory=list)
    drafts: list[Planned] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # a yield with no template, for example
    # The same gaps as data: (route, stage, hazard, level, audience, channel, language).
    gaps: list[tuple[str, str, str | None, str | None, str, str, str]] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    # Geocodes of our city that areas.yaml does not know: they fell back to the whole city.
    unknown_areas: list[str] = field(default_factory=list)
    stage: str = "new"  # the chain stage the plan was made for


class TemplateIndex:
    """What routing needs from the library: find a template id by its metadata."""

    def find(self, *, hazard: str | None, level: str | None, audience: str, channel: str, stage: str,
             language: str) -> str | None:  # pragma: no cover - protocol
        raise NotImplementedError


def load_routes(doc: Any, filename: str) -> RoutesConfig:
    try:
        return RoutesConfig.model_validate(doc)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(filename, err)) from None


class Router:
    def __init__(self, config: RoutesConfig, areas: Areas, templates: TemplateIndex):
        self.config = config
        self.areas = areas
        self.templates = templates

    def plan(self, alert: Alert, *, stage: str | None = None) -> Plan:
        """Walk the tree for a chain stage (alerts/chain.py; guessed from the message when None).
        Yields without a stage of their own take the chain stage's texts."""
        coverage = self.areas.coverage(alert)
        plan = Plan(areas=coverage.codes, unknown_areas=coverage.unknown, stage=stage or guess_stage(alert))
        ok, why = matches(self.config.defaults.match, alert, plan.areas, stage=plan.stage)
        if not ok:
            return plan  # outside what the root accepts: no route is even considered
        if why != ["matches everything"]:
            plan.matched.append(Matched(route=ROOT, why=why))
        self._walk(self.config.routes, alert, plan, prefix="", stage=stage)
        seen: set[tuple[str, str, str]] = set()
        unique = []
        for d in plan.drafts:
            key = (d.template, d.audience, d.channel)
            if key not in seen:
                seen.add(key)
                unique.append(d)
        plan.drafts = unique
        return plan

    def _walk(self, routes: list[Route], alert: Alert, plan: Plan, prefix: str, stage: str | None) -> bool:
        any_matched = False
        for route in routes:
            name = f"{prefix}{route.name}"
            ok, why = matches(route.match, alert, plan.areas, stage=plan.stage)
            if not ok:
                continue
            any_matched = True
            plan.matched.append(Matched(route=name, why=why))
            child_matched = self._walk(route.routes, alert, plan, prefix=f"{name}.", stage=stage)
            if not child_matched:
                for y in route.yields:
                    self._yield(name, y, alert, plan, stage)
            if not route.continue_:
                break
        return any_matched

    def _yield(self, route: str, y: Yield, alert: Alert, plan: Plan, stage: str | None) -> None:
        level = alert.level.value if alert.level else None
        use_stage = y.stage if "stage" in y.model_fields_set else template_stage(plan.stage)
        language = y.language or self.config.defaults.language
        template = y.template or self.templates.find(
            hazard=alert.hazard, level=level, audience=y.audience, channel=y.channel,
            stage=use_stage, language=language,
        )
        if template is None and y.optional:
            return
        if template is None:
            plan.problems.append(
                f"route {route}: no {use_stage} template for hazard={alert.hazard} level={level} "
                f"audience={y.audience} channel={y.channel} language={language}"
            )
            plan.gaps.append((route, use_stage, alert.hazard, level, y.audience, y.channel, language))
            return
        plan.drafts.append(Planned(route, template, y.audience, y.channel, use_stage, language, plan.areas))


def matches(m: Match, alert: Alert, areas: list[str], now: datetime | None = None, *,
            stage: str | None = None) -> tuple[bool, list[str]]:
    """Does the alert match? If so, the reasons, one per condition, for `alerts routes test`."""
    why: list[str] = []
    if m.stage:
        current = stage or guess_stage(alert)
        if current not in m.stage:
            return False, []
        why.append(f"stage {current}")
    hazard = alert.hazard
    if m.hazard:
        if hazard not in m.hazard:
            return False, []
        why.append(f"hazard {hazard} in {m.hazard}")
    if m.hazard_known is not None:
        if (hazard is not None) != m.hazard_known:
            return False, []
        why.append("hazard recognised" if m.hazard_known else "hazard not recognised")
    level = alert.level.value if alert.level else None
    if m.level_at_least is not None:
        if level_rank(level) < level_rank(m.level_at_least):
            return False, []
        why.append(f"level {level} ≥ {m.level_at_least}")
    if m.level_exactly:
        if level not in m.level_exactly:
            return False, []
        why.append(f"level {level} in {m.level_exactly}")
    if m.status:
        if alert.status not in m.status:
            return False, []
        why.append(f"status {alert.status}")
    if m.msg_type:
        if alert.msg_type not in m.msg_type:
            return False, []
        why.append(f"msgType {alert.msg_type}")
    if m.sender:
        if not any(alert.sender.startswith(s[:-1]) if s.endswith("*") else alert.sender == s for s in m.sender):
            return False, []
        why.append(f"sender {alert.sender}")
    if m.source:
        if not any(alert.source.startswith(s[:-1]) if s.endswith("*") else alert.source == s for s in m.source):
            return False, []
        why.append(f"source {alert.source}")
    if m.area_prefix:
        hits = [a for a in areas if any(a.startswith(p) for p in m.area_prefix)]
        if not hits:
            return False, []
        why.append(f"areas {hits} under {m.area_prefix}")
    if m.months:
        month = (now or alert.sent).astimezone(SHANGHAI).month
        if month not in m.months:
            return False, []
        why.append(f"month {month} in {m.months}")
    if not why:
        why.append("matches everything")
    return True, why


def routes_file(config_dir: Path) -> Path:
    return config_dir / "routes.yaml"


def build_router(settings: Any, library: Any | None = None, hazards: Any | None = None) -> Router:
    """The router from settings: the service's, and the same offline for `alerts routes test` and dry runs."""
    from alerts.app import LibraryIndex
    from alerts.content.library import Library
    from alerts.hazards import HazardTable

    if "routes.yaml" not in settings.extra:
        raise ConfigError([f"{settings.config_dir / 'routes.yaml'}: missing file — expected the route tree"])
    config = load_routes(settings.extra["routes.yaml"], str(settings.config_dir / "routes.yaml"))
    library = library if library is not None else Library.load(settings.templates_dir)
    hazards = hazards if hazards is not None else HazardTable.load(settings.config_dir / "hazards.yaml")
    return Router(config, Areas(settings.areas), LibraryIndex(library, hazards))


def stage_for(alert: Alert) -> str:
    """The chain stage a message shows on its own (no chain known): offline tools use it."""
    return guess_stage(alert)


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as `alerts routes test --json` prints it."""
    return {
        "routes": [{"route": m.route, "why": m.why} for m in plan.matched],
        "drafts": [{"route": d.route, "template": d.template, "audience": d.audience, "channel": d.channel,
                    "stage": d.stage, "language": d.language, "areas": d.areas} for d in plan.drafts],
        "areas": plan.areas,
        "unknown_areas": plan.unknown_areas,
        "stage": plan.stage,
        "problems": plan.problems,
    }
