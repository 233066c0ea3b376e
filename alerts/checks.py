"""`alerts check`: everything that can be wrong before start-up, found offline, one line each."""

from __future__ import annotations

from alerts.settings import ConfigError, Settings


def run_checks(settings: Settings) -> list[str]:
    from alerts.app import LibraryIndex, sms_rules
    from alerts.areas import Areas
    from alerts.content.hazards import default_hazards
    from alerts.content.library import Library, LibraryError
    from alerts.content.lint import lint, worst_alert
    from alerts.hazards import HazardTable
    from alerts.routing import Router, load_routes

    problems: list[str] = []
    cfg = settings.config_dir
    try:
        HazardTable.load(cfg / "hazards.yaml")
    except (ValueError, OSError) as exc:
        problems.extend(str(exc).splitlines())
    try:
        library = Library.load(settings.templates_dir, strict=False)
    except LibraryError as exc:
        return problems + list(exc.problems)
    problems.extend(str(p) for p in lint(library, sms_rules(settings)))
    if "routes.yaml" not in settings.extra:
        return problems + [f"{cfg / 'routes.yaml'}: missing file — expected the route tree"]
    try:
        routes = load_routes(settings.extra["routes.yaml"], str(cfg / "routes.yaml"))
    except ConfigError as exc:
        return problems + exc.lines
    router = Router(routes, Areas(settings.areas), LibraryIndex(library))
    known = {t.id for t in library.templates}
    # Every route must find a template for every hazard and level it can match: a gap found
    # now is a config error, not a silent nothing at 03:00 during a red warning.
    region_geocode = settings.areas.region_code + "000000"
    for hazard in default_hazards().values():
        if not hazard.is_alert:
            continue
        for level in hazard.allowed_levels():
            for msg_type in ("Alert", "Cancel"):
                alert = worst_alert(hazard.key, level, msg_type=msg_type)
                from alerts.model import Area, Geocode

                alert.infos[0].areas = [Area(desc=settings.areas.region_name, geocodes=[Geocode(value=region_geocode)])]
                plan = router.plan(alert, stage="all_clear" if msg_type == "Cancel" else None)
                for p in plan.problems:
                    line = f"{cfg / 'routes.yaml'}: {p}"
                    if line not in problems:
                        problems.append(line)
                for d in plan.drafts:
                    if d.template not in known:
                        problems.append(f"{cfg / 'routes.yaml'}: route {d.route}: template {d.template!r} is not in the library")
    return problems
