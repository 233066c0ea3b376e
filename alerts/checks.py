"""`alerts check`: everything that can be wrong before start-up, found offline, one line each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from alerts.settings import ConfigError, Settings
from alerts.settings.routes import Route


def _walk(routes: list[Route], prefix: str = "routes") -> Iterator[tuple[str, str, Route]]:
    """(key path as in the file, dotted route name, route) for every route in the tree."""
    for i, route in enumerate(routes):
        path = f"{prefix}[{i}]"
        yield path, route.name, route
        for sub_path, sub_name, sub in _walk(route.routes, f"{path}.routes"):
            yield sub_path, f"{route.name}.{sub_name}", sub


def route_problems(routes: list[Route], file: Path, *, hazards: set[str], templates: set[str],
                   audiences: set[str], channels: set[str]) -> list[str]:
    """What the route tree names that does not exist: hazards, templates, audiences, channels."""
    problems: list[str] = []
    for path, name, route in _walk(routes):
        for j, hazard in enumerate(route.match.hazard):
            if hazard not in hazards:
                problems.append(f"{file}: {path}.match.hazard[{j}]: {hazard!r} — unknown hazard in route {name}; "
                                f"expected one of hazards.yaml: {', '.join(sorted(hazards))}")
        for j, month in enumerate(route.match.months):
            if not 1 <= month <= 12:
                problems.append(f"{file}: {path}.match.months[{j}]: {month!r} — expected a month 1..12")
        for j, y in enumerate(route.yields):
            where = f"{file}: {path}.yields[{j}]"
            if y.template is not None and y.template not in templates:
                problems.append(f"{where}.template: {y.template!r} — route {name} yields a template that is not "
                                "in the library; add it or fix the id (alerts templates list)")
            if y.audience not in audiences:
                problems.append(f"{where}.audience: {y.audience!r} — unknown audience in route {name}; expected one "
                                f"of {', '.join(sorted(audiences))}")
            if y.channel not in channels:
                problems.append(f"{where}.channel: {y.channel!r} — the template library has no {y.channel} "
                                f"texts; expected one of {', '.join(sorted(channels))}")
        names = [r.name for r in route.routes]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{file}: {path}.routes: route name {dup!r} is used twice under {name}; "
                            "names must differ so `alerts routes test` can tell them apart")
    top = [r.name for r in routes]
    for dup in sorted({n for n in top if top.count(n) > 1}):
        problems.append(f"{file}: routes: route name {dup!r} is used twice; names must differ")
    return problems


def run_checks(settings: Settings) -> list[str]:
    from alerts.app import LibraryIndex, sms_rules
    from alerts.areas import Areas
    from alerts.content.hazards import default_hazards
    from alerts.content.library import AUDIENCES, CHANNELS, Library, LibraryError
    from alerts.content.lint import lint, worst_alert
    from alerts.hazards import HazardConfigError, HazardTable
    from alerts.model import Area, Geocode
    from alerts.routing import Router, load_routes

    problems: list[str] = []
    cfg = settings.config_dir
    hazard_keys: set[str] | None = None
    table: HazardTable | None = None
    try:
        table = HazardTable.load(cfg / "hazards.yaml")
        hazard_keys = set(table.keys())
    except HazardConfigError as exc:
        problems.extend(exc.lines)
    except (ValueError, OSError) as exc:
        problems.extend(str(exc).splitlines())
    try:
        library = Library.load(settings.templates_dir, strict=False)
    except LibraryError as exc:
        return problems + list(exc.problems)
    # Texts must fit with the longest issuer name they may cite (service.yaml and chains.yaml offices).
    from alerts.settings.chains import chains_config

    offices = [o.name for o in chains_config(settings).offices]
    issuer = max([settings.service.issuer_default, *settings.service.issuers.values(), *offices], key=len)
    problems.extend(str(p) for p in lint(library, sms_rules(settings), issuer=issuer))
    # Domestic SMS providers: every reviewed SMS registered with the same wording (config/sms_providers.yaml).
    from alerts.channels.sms.checks import check_settings as registered_template_problems

    problems.extend(registered_template_problems(settings, library, issuer=issuer))
    # Voice calls: credentials when voice is on, the TTS registry's codes and wording (voice_providers.yaml).
    from alerts.channels.voice.checks import check_settings as voice_problems

    problems.extend(voice_problems(settings, library))
    if "routes.yaml" not in settings.extra:
        return problems + [f"{cfg / 'routes.yaml'}: missing file — expected the route tree"]
    try:
        routes = load_routes(settings.extra["routes.yaml"], str(cfg / "routes.yaml"))
    except ConfigError as exc:
        return problems + exc.lines
    known = {t.id for t in library.templates}
    for j, hazard in enumerate(routes.defaults.match.hazard):
        if hazard_keys is not None and hazard not in hazard_keys:
            problems.append(f"{cfg / 'routes.yaml'}: defaults.match.hazard[{j}]: {hazard!r} — unknown hazard; "
                            f"expected one of hazards.yaml: {', '.join(sorted(hazard_keys))}")
    problems.extend(route_problems(
        routes.routes, cfg / "routes.yaml", hazards=hazard_keys if hazard_keys is not None else set(default_hazards()),
        templates=known, audiences=set(AUDIENCES), channels=set(CHANNELS)))
    bad_audiences = {a for _p, _n, r in _walk(routes.routes) for a in (y.audience for y in r.yields)} - set(AUDIENCES)
    router = Router(routes, Areas(settings.areas), LibraryIndex(library, table))
    gaps: dict[tuple[str, str, str, str, str], list[str]] = {}
    # Every route must find a template for every hazard and level it can match: a gap found
    # now is a config error, not a silent nothing at 03:00 during a red warning.
    region_geocode = settings.areas.region_code + "000000"
    # Every hazard that can arrive (hazards.yaml), at every level it has, through its advice texts.
    arriving = ({k: [lv.value for lv in table.levels(k)] for k in table.keys()} if table is not None else
                {h.key: list(h.allowed_levels()) for h in default_hazards().values() if h.is_alert})
    from alerts.chain import STAGES

    for hazard_key, levels in arriving.items():
        for level in levels:
            # Every stage a warning at this level can reach: a missing stage text is an error here, never
            # a silent fallback to 发布 at send time.
            for stage in _possible_stages(STAGES, level, levels):
                alert = worst_alert(hazard_key, level, msg_type="Cancel" if stage in ("end", "withdraw") else "Alert")
                alert.infos[0].areas = [Area(desc=settings.areas.region_name, geocodes=[Geocode(value=region_geocode)])]
                plan = router.plan(alert, stage=stage)
                for route, template_stage, hz, lv, audience, channel, language in plan.gaps:
                    if audience not in bad_audiences:  # already reported once as an unknown audience
                        cases = gaps.setdefault((route, template_stage, audience, channel, language), [])
                        if f"{hz} {lv}" not in cases:
                            cases.append(f"{hz} {lv}")
                for d in plan.drafts:
                    line = f"{cfg / 'routes.yaml'}: route {d.route}: template {d.template!r} is not in the library"
                    if d.template not in known and not any(repr(d.template) in x for x in problems):
                        problems.append(line)
    from alerts.campaigns.calendar import problems as campaign_problems
    from alerts.security.webhook_check import webhook_problems

    problems.extend(campaign_problems(settings))
    problems.extend(webhook_problems(settings))
    from alerts.events.checks import event_problems  # departments, rosters, tasks, 叫应 and skeletons

    problems.extend(event_problems(settings, table, sms_rules(settings)))
    for (route, stage, audience, channel, language), cases in gaps.items():
        shown = ", ".join(cases[:6]) + (f" and {len(cases) - 6} more" if len(cases) > 6 else "")
        problems.append(f"{cfg / 'routes.yaml'}: route {route}: no {stage} template for audience={audience} "
                        f"channel={channel} language={language} for {len(cases)} hazard/level cases: {shown} — "
                        "add templates to the library or change the route's yields")
    return problems


def _possible_stages(stages: tuple[str, ...], level: str, levels: list[str]) -> list[str]:
    """The chain stages a warning can be at with this level: nothing is raised to the hazard's lowest
    level or lowered to its highest."""
    out = []
    for stage in stages:
        if stage == "raise" and level == levels[0]:
            continue
        if stage == "lower" and level == levels[-1]:
            continue
        out.append(stage)
    return out
