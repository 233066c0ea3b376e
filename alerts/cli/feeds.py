"""`alerts feeds status`: per feed, last success, last error, failures, entries seen, and staleness."""

from __future__ import annotations

import json
from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit
from alerts.clock import local
from alerts.store.engine import Database, redact


@click.group()
def feeds() -> None:
    """Where warnings come from (feeds.yaml) and how each source is doing."""


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


@feeds.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON list, one object per feed.")
@config_option
def status(as_json: bool, config_dir: Path) -> None:
    """Health of every feed from the database; exit 1 when any enabled feed is stale."""
    from alerts.clock import Clock
    from alerts.feeds.health import feed_health
    from alerts.store import feeds as feed_store

    settings = settings_or_exit(config_dir)

    async def go() -> list:  # type: ignore[type-arg]
        database = Database(settings.database_url)
        try:
            async with database.read() as conn:
                return await feed_store.all_feeds(conn)
        finally:
            await database.close()

    try:
        rows = run(go)
    except Exception as exc:  # noqa: BLE001 - a missing or unreachable database is one line, not a traceback
        fail(f"cannot read feed health from {redact(settings.database_url)}: {exc.__class__.__name__}: "
             f"{str(exc).splitlines()[0] if str(exc) else ''} — is the database migrated (alerts db upgrade)?")
    health = feed_health(settings.feeds.feeds, rows, Clock().now())
    if as_json:
        click.echo(json.dumps([h.as_json() for h in health], ensure_ascii=False, indent=2))
    else:
        if not health:
            click.echo("no feeds configured in feeds.yaml")
        for h in health:
            flag = "STALE" if h.stale else ("disabled" if not h.enabled else "ok")
            click.echo(f"{h.name} ({h.kind}): {flag}")
            click.echo(f"  last success: {local(h.last_success_at) or 'never'} ({_ago(h.silent_seconds)}); "
                       f"stale after {h.stale_after_seconds:.0f} s")
            if h.last_error:
                click.echo(f"  last error:   {local(h.last_error_at)}: {h.last_error}")
            click.echo(f"  failures in a row: {h.consecutive_failures}; entries seen: {h.entries_seen}"
                       + (f"; next poll not before {local(h.next_poll_at)}" if h.next_poll_at else ""))
    raise SystemExit(1 if any(h.stale for h in health) else 0)


COMMANDS = [feeds]
