"""`alerts templates lint|review|list` and `alerts render`: the reviewed library from the command line."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from alerts.cli.common import config_option, fail, settings_or_exit

STATUS_WORDS = {"reviewed": "reviewed", "changed": "changed since review", "unreviewed": "never reviewed"}
# Lint codes that say the text itself is unfit; a review must not sign off on such a template.
BLOCKING = ("load", "location", "level", "syntax", "science", "render", "sms", "voice")


def _library(settings: Any, *, strict: bool) -> Any:
    from alerts.content.library import Library, LibraryError

    try:
        return Library.load(settings.templates_dir, strict=strict)
    except LibraryError as exc:
        fail(exc.problems, code=1)


@click.group()
def templates() -> None:
    """The template library (templates/): lint, review, list."""


@templates.command("lint")
@config_option
def lint_cmd(config_dir: Path) -> None:
    """Check every template: schema, review status, syntax, worst-case SMS length, coverage."""
    from alerts.app import sms_rules
    from alerts.content.lint import lint

    settings = settings_or_exit(config_dir)
    library = _library(settings, strict=False)
    problems = lint(library, sms_rules(settings))
    for problem in problems:
        click.echo(str(problem))
    click.echo(f"{len(library.templates)} templates in {settings.templates_dir}, {len(problems)} problems", err=True)
    sys.exit(1 if problems else 0)


@templates.command("review")
@click.argument("template_id")
@click.option("--by", "by", required=True, help="Who reviewed the text (the expert team).")
@click.option("--approved-by", default=None, help="Who approved it for use [default: the reviewer].")
@config_option
def review_cmd(template_id: str, by: str, approved_by: str | None, config_dir: Path) -> None:
    """Record a review of TEMPLATE_ID with the hash of its current text and metadata."""
    from alerts.app import sms_rules
    from alerts.content.library import Library, LibraryError, record_review
    from alerts.content.lint import lint

    settings = settings_or_exit(config_dir)
    library = _library(settings, strict=False)
    try:
        template = library.get(template_id)
    except KeyError:
        fail(f"no template {template_id!r} in {settings.templates_dir}; `alerts templates list` shows the ids", code=1)
    alone = Library(library.directory, [template], [])
    blocking = [p for p in lint(alone, sms_rules(settings), coverage=False) if p.code in BLOCKING]
    if blocking:
        fail([f"{template_id} cannot be reviewed until this is fixed: {p}" for p in blocking], code=1)
    try:
        stamped = record_review(template, by, approved_by or by, datetime.now().astimezone())
    except (ValueError, LibraryError) as exc:
        fail(str(exc).splitlines(), code=1)
    assert stamped.review is not None
    click.echo(f"reviewed {stamped.id}: by {stamped.review.reviewed_by}, approved by {stamped.review.approved_by}, "
               f"at {stamped.review.at.isoformat()}, hash {stamped.review.hash[:12]}…")


@templates.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of templates with their status.")
@config_option
def list_cmd(as_json: bool, config_dir: Path) -> None:
    """Every template with its review status: reviewed, changed since review, never reviewed."""
    settings = settings_or_exit(config_dir)
    library = _library(settings, strict=False)
    for line in library.problems:
        click.echo(f"warning: {line}", err=True)
    rows = [{"id": t.id, "status": STATUS_WORDS[t.status], "hazard": t.hazard, "levels": list(t.levels),
             "audience": t.audience, "channel": t.channel, "language": t.language, "stage": t.stage,
             "version": t.version, "reviewed_by": t.review.reviewed_by if t.review else None,
             "approved_by": t.review.approved_by if t.review else None,
             "reviewed_at": t.review.at.isoformat() if t.review else None, "path": str(t.path)}
            for t in library.templates]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['status']:<21} {r['id']}")
    counts = {word: sum(1 for r in rows if r["status"] == word) for word in STATUS_WORDS.values()}
    click.echo(", ".join(f"{n} {word}" for word, n in counts.items()), err=True)


@click.command()
@click.argument("template_id")
@click.option("--alert", "alert_file", default=None, type=click.Path(path_type=Path),
              help="A CAP or national-profile file whose values fill the template (not needed for "
                   "seasonal and preparedness texts, which are rendered for the whole region).")
@click.option("--json", "as_json", is_flag=True, help="One object with text, characters, encoding, segments.")
@config_option
def render(template_id: str, alert_file: Path | None, as_json: bool, config_dir: Path) -> None:
    """Print TEMPLATE_ID rendered for an alert exactly as it would be sent (SMS with its signature)."""
    from alerts.content.sms import check, measure

    settings = settings_or_exit(config_dir)
    library = _library(settings, strict=False)
    try:
        template = library.get(template_id)
    except KeyError:
        fail(f"no template {template_id!r} in {settings.templates_dir}; `alerts templates list` shows the ids", code=1)
    if alert_file is None:
        body = _campaign_text(settings, template)
    else:
        body = _alert_text(settings, library, template, alert_file, config_dir)
    if template.channel == "sms":
        sms = measure(body, settings.service.sms.signature)
        out: dict[str, Any] = {"text": sms.text, "characters": sms.characters, "encoding": sms.encoding,
                               "segments": sms.segments}
        from alerts.app import sms_rules

        issues = check(body, sms_rules(settings))
    else:
        out = {"text": body, "characters": len(body), "encoding": "UTF-8", "segments": None}
        issues = []
    if template.status != "reviewed":
        click.echo(f"warning: {template_id} is {STATUS_WORDS[template.status]}: the service will not send it "
                   "as pre-approved until it is reviewed (`alerts templates review`)", err=True)
    for issue in issues:
        click.echo(f"warning: {issue}", err=True)
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    click.echo(out["text"])
    segments = f", {out['segments']} segment(s)" if out["segments"] is not None else ""
    click.echo(f"-- {out['characters']} characters, {out['encoding']}{segments}", err=True)



def _alert_text(settings: Any, library: Any, template: Any, alert_file: Path, config_dir: Path) -> str:
    """The text for an alert, by the same code path the pipeline drafts with."""
    from alerts.areas import Areas
    from alerts.cli.ingest import load_hazards, read_document
    from alerts.drafting import drafter_for
    from alerts.routing import Planned

    try:
        data = alert_file.read_bytes()
    except OSError as exc:
        fail(f"{alert_file}: rejected: cannot read the file ({exc.strerror or exc})", code=1)
    result = read_document(str(alert_file), data, load_hazards(config_dir))
    if result.rejected or not result.alerts:
        fail([f"{alert_file}: rejected: {r}" for r in result.rejected] or [f"{alert_file}: holds no alert"], code=1)
    _where, alert = result.alerts[0]
    areas = Areas(settings.areas)
    drafter = drafter_for(settings, library, areas, load_hazards(config_dir))
    planned = Planned("cli", template.id, template.audience, template.channel, template.stage, template.language,
                      areas.covered(alert))
    items, problems = drafter.render_planned(alert, [planned], datetime.now().astimezone())
    if problems or not items:
        fail(problems or [f"{template.id}: nothing rendered"], code=1)
    return str(items[0].text)


def _campaign_text(settings: Any, template: Any) -> str:
    """A seasonal or preparedness text for the whole region, as a campaign occurrence renders it."""
    from alerts.areas import Areas
    from alerts.content.render import RenderError, build_campaign_context
    from alerts.content.render import render as render_template

    if template.stage not in ("seasonal", "preparedness"):
        fail(f"{template.id} is a {template.stage} text: give the alert it is for with --alert FILE", code=2)
    areas = Areas(settings.areas)
    codes = sorted(areas.townships)
    context = build_campaign_context(area_phrase=areas.phrase(codes), area_names=areas.names(codes), params={},
                                     now=datetime.now().astimezone())
    try:
        return render_template(template, context)
    except RenderError as exc:
        fail(str(exc), code=1)
        raise AssertionError from exc  # unreachable

COMMANDS = [templates, render]
