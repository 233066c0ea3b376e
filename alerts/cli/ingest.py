"""`alerts ingest PATH...`: parse CAP files and Atom/RSS feeds offline and show what they hold."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from alerts.cli.common import config_option, fail, router_or_exit, settings_or_exit
from alerts.feeds.cap import parse_alert, read_alert
from alerts.feeds.index import parse_index
from alerts.feeds.poller import FEED_ROOTS, local_name, sound_root
from alerts.feeds.safexml import DEFAULT_LIMITS, Rejected, refits
from alerts.hazards import DEFAULT_PATH, HazardConfigError, HazardTable
from alerts.model import Alert


@dataclass
class Read:
    """What one file holds: alerts, notes (e.g. links not fetched) and rejections with reasons."""

    path: str
    alerts: list[tuple[str, Alert]] = field(default_factory=list)  # (where, alert)
    notes: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def read_document(path: str, data: bytes, hazards: HazardTable) -> Read:
    """Parse one CAP document or index feed. Linked CAP documents are not fetched (offline by design)."""
    out = Read(path)
    root = sound_root(data)
    if local_name(root) not in FEED_ROOTS:  # not a sound feed: parse_alert gives the reason
        try:
            # The tree parsed above serves when the alert limits would accept it too (one parse).
            alert = read_alert(root) if root is not None and refits(data, root, DEFAULT_LIMITS) else parse_alert(data)
            out.alerts.append((path, hazards.normalise(alert)))
        except Rejected as exc:
            out.rejected.append(exc.reason)
        return out
    try:
        index = parse_index(data)
    except Rejected as exc:
        out.rejected.append(exc.reason)
        return out
    out.notes.extend(f"skipped {line}" for line in index.skipped)
    if not index.entries:
        out.notes.append(f"{index.kind} feed {index.title!r} has no entries")
    for entry in index.entries:
        where = f"{path}#{entry.entry_id}"
        if entry.cap_xml is not None:
            try:
                out.alerts.append((where, hazards.normalise(parse_alert(entry.cap_xml))))
            except Rejected as exc:
                out.rejected.append(f"entry {entry.entry_id}: {exc.reason}")
        elif entry.cap_link:
            out.notes.append(f"entry {entry.entry_id}: links to {entry.cap_link}; not fetched by "
                             "`alerts ingest` (offline); the service's poller fetches linked CAP documents")
        else:
            out.notes.append(f"entry {entry.entry_id}: no embedded or linked CAP document")
    return out


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def alert_json(alert: Alert) -> dict[str, Any]:
    """The fields issue 3 names, in a stable shape for scripts."""
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent.isoformat(),
        "status": alert.status,
        "msg_type": alert.msg_type,
        "scope": alert.scope,
        "format": alert.format,
        "references": [identifier for _sender, identifier, _sent in alert.references],
        "hazard": alert.hazard,
        "level": alert.level.value if alert.level else None,
        # What the words say the message does (raise, lower, extend, end, ...) and, when the words,
        # the grade and the CAP severity disagreed, why the level was chosen.
        "change": alert.change,
        "level_reason": alert.level_reason,
        "infos": [
            {
                "language": info.language,
                "event": info.event,
                "hazard": info.hazard,
                "level": info.level.value if info.level else None,
                "change": info.change,
                "level_reason": info.level_reason,
                "severity": info.severity,
                "urgency": info.urgency,
                "certainty": info.certainty,
                "onset": _time(info.onset),
                "expires": _time(info.expires),
                "headline": info.headline,
                "areas": [
                    {"desc": area.desc, "geocodes": [g.value for g in area.geocodes],
                     "polygons": len(area.polygons), "circles": len(area.circles)}
                    for area in info.areas
                ],
            }
            for info in alert.infos
        ],
    }


def load_hazards(config_dir: Path) -> HazardTable:
    path = config_dir / "hazards.yaml"
    try:
        return HazardTable.load(path if path.is_file() else DEFAULT_PATH)
    except HazardConfigError as exc:
        fail(exc.lines)
        raise AssertionError from exc  # unreachable


def _text_line(where: str, alert: Alert) -> str:
    info = alert.primary_info()
    level = alert.level.value if alert.level else "-"
    areas = ", ".join(a.desc for a in info.areas) if info else ""
    refs = f" references {', '.join(r[1] for r in alert.references)}" if alert.references else ""
    return (f"{where}: {alert.identifier} from {alert.sender} sent {alert.sent.isoformat()} "
            f"{alert.status} {alert.msg_type}{refs}; hazard {alert.hazard or 'unknown'} level {level}; "
            f"{info.event if info else ''} — {info.headline if info else ''} [{areas}]")


def _draft_lines(plan_doc: dict[str, Any]) -> list[str]:
    lines = [f"  route {r['route']}: {'; '.join(r['why'])}" for r in plan_doc["routes"]] or ["  no route matched"]
    lines += [f"  would draft {d['template']} for {d['audience']} by {d['channel']} over {', '.join(d['areas'])}"
              for d in plan_doc["drafts"]]
    lines += [f"  problem: {p}" for p in plan_doc["problems"]]
    return lines


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a directory stands for the alert and feed files in it."""
    from alerts.feeds.sources import XML_SUFFIXES

    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(p for p in sorted(path.iterdir()) if p.is_file() and p.suffix.lower() in XML_SUFFIXES)
        else:
            out.append(path)
    return out


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per alert on stdout.")
@click.option("--dry-run", is_flag=True, help="Also show the drafts routing would create (no database needed).")
@config_option
def ingest(paths: tuple[Path, ...], as_json: bool, dry_run: bool, config_dir: Path) -> None:
    """Parse CAP files and Atom/RSS feeds (or directories of them) offline; a rejected input is named
    with its reason (exit 1).

    Feeds: entries that embed CAP are parsed; linked CAP documents are not fetched here.
    """
    hazards = load_hazards(config_dir)
    router = None
    if dry_run:
        router = router_or_exit(settings_or_exit(config_dir))
    status = 0
    for path in _expand(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            click.echo(f"{path}: rejected: cannot read the file ({exc.strerror or exc})", err=True)
            status = 1
            continue
        result = read_document(str(path), data, hazards)
        for reason in result.rejected:
            click.echo(f"{path}: rejected: {reason}", err=True)
            status = 1
        for note in result.notes:
            click.echo(f"{path}: note: {note}", err=as_json)
        for where, alert in result.alerts:
            plan_doc = None
            if router is not None:
                from alerts.routing import plan_json, stage_for

                plan_doc = plan_json(router.plan(alert, stage=stage_for(alert)))
            if as_json:
                doc = {"path": where, **alert_json(alert)}
                if plan_doc is not None:
                    doc["routes"] = plan_doc["routes"]
                    doc["drafts"] = plan_doc["drafts"]
                    doc["problems"] = plan_doc["problems"]
                click.echo(json.dumps(doc, ensure_ascii=False))
            else:
                click.echo(_text_line(where, alert))
                if plan_doc is not None:
                    for line in _draft_lines(plan_doc):
                        click.echo(line)
    if dry_run and not as_json:
        click.echo("dry run: nothing was stored; a Cancel proposes all-clear texts only for audiences "
                   "the warning already reached", err=True)
    sys.exit(status)


COMMANDS = [ingest]
