"""`alerts routes test FILE`: which routes an alert matches, why, and the drafts it would create."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from alerts.cli.common import config_option, fail, router_or_exit, settings_or_exit
from alerts.cli.ingest import load_hazards, read_document


@click.group()
def routes() -> None:
    """The route tree of routes.yaml."""


@routes.command("test")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One object with `routes` and `drafts`.")
@config_option
def test(file: Path, as_json: bool, config_dir: Path) -> None:
    """Route the alert in FILE without a database, like `amtool config routes test`."""
    from alerts.routing import plan_json, stage_for

    settings = settings_or_exit(config_dir)
    router = router_or_exit(settings)
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: rejected: cannot read the file ({exc.strerror or exc})", code=1)
    result = read_document(str(file), data, load_hazards(config_dir))
    for reason in result.rejected:
        click.echo(f"{file}: rejected: {reason}", err=True)
    if not result.alerts:
        if not result.rejected:
            click.echo(f"{file}: no alert to route ({'; '.join(result.notes) or 'empty'})", err=True)
        sys.exit(1)
    if len(result.alerts) > 1:
        click.echo(f"{file}: {len(result.alerts)} alerts; routing the first", err=True)
    _where, alert = result.alerts[0]
    plan = router.plan(alert, stage=stage_for(alert))
    doc = plan_json(plan)
    doc["alert"] = {"identifier": alert.identifier, "hazard": alert.hazard,
                    "level": alert.level.value if alert.level else None,
                    "status": alert.status, "msg_type": alert.msg_type, "exercise": alert.is_exercise}
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        a = doc["alert"]
        click.echo(f"alert {a['identifier']}: hazard {a['hazard'] or 'unknown'}, level {a['level'] or '-'}, "
                   f"{a['status']} {a['msg_type']}; our areas: {', '.join(plan.areas) or 'none'}")
        if not plan.matched:
            click.echo("no route matched: no draft would be created")
        for m in doc["routes"]:
            click.echo(f"matched {m['route']}: {'; '.join(m['why'])}")
        for d in doc["drafts"]:
            click.echo(f"draft {d['template']} → {d['audience']} by {d['channel']} ({d['stage']}, {d['language']}) "
                       f"over {', '.join(d['areas'])}  [route {d['route']}]")
        if alert.is_exercise:
            click.echo(f"status {alert.status}: drafts are marked exercise and reach only the test audience")
        if alert.msg_type == "Cancel":
            click.echo("Cancel: pending drafts of the chain are withdrawn; all-clear texts go only to audiences "
                       "the warning already reached")
    for problem in plan.problems:
        click.echo(f"problem: {problem}", err=True)
    sys.exit(1 if plan.problems else 0)


COMMANDS = [routes]
