"""`alerts campaigns`: the occurrences the calendar will produce, and a check of campaigns.yaml."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import click

from alerts.cli.common import config_option, fail, settings_or_exit
from alerts.clock import SHANGHAI
from alerts.settings import ConfigError


def _calendar(config_dir: Path):  # type: ignore[no-untyped-def]
    from alerts.areas import Areas
    from alerts.campaigns import calendar
    from alerts.content.library import Library, LibraryError

    settings = settings_or_exit(config_dir)
    try:
        return calendar.load(settings, Areas(settings.areas), Library.load(settings.templates_dir))
    except ConfigError as exc:
        fail(exc.lines)
    except LibraryError as exc:
        fail(exc.problems)
    raise AssertionError  # unreachable


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: expected a date such as 2027-01-01")
    raise AssertionError  # unreachable


@click.group()
def campaigns() -> None:
    """Seasonal and on-demand campaigns (config/campaigns.yaml)."""


@campaigns.command("list")
@click.option("--from", "start", default=None, help="First day (YYYY-MM-DD, Asia/Shanghai) [default: today].")
@click.option("--to", "end", default=None, help="Last day, included [default: 90 days after --from].")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {campaign, name, at, rule, ...}.")
@config_option
def list_occurrences(start: str | None, end: str | None, as_json: bool, config_dir: Path) -> None:
    """The occurrences the calendar will produce in a window, with their rule."""
    first_day = _date(start, "--from") or datetime.now(SHANGHAI).date()
    last_day = _date(end, "--to") or first_day + timedelta(days=89)
    if last_day < first_day:
        fail(f"--to {last_day} is before --from {first_day}")
    if (last_day - first_day).days > 3 * 366:
        fail("the window spans more than three years: choose a shorter --from/--to")
    cal = _calendar(config_dir)
    first = datetime(first_day.year, first_day.month, first_day.day, tzinfo=SHANGHAI)
    last = datetime(last_day.year, last_day.month, last_day.day, tzinfo=SHANGHAI) + timedelta(days=1)
    found = cal.occurrences(first, last)
    if as_json:
        click.echo(json.dumps([o.as_json() for o in found], ensure_ascii=False, indent=2))
        return
    for w in cal.warnings:
        click.echo(f"warning: {w}", err=True)
    if not found:
        click.echo(f"no occurrences from {first_day} to {last_day}")
    for o in found:
        click.echo(f"{o.at.strftime('%Y-%m-%d %H:%M %a')}  {o.campaign.id:<28} {o.campaign.name}  [{o.as_json()['rule']}]")


@campaigns.command("check")
@config_option
def check(config_dir: Path) -> None:
    """Validate campaigns.yaml against areas.yaml and the template library."""
    cal = _calendar(config_dir)
    for w in cal.warnings:
        click.echo(f"warning: {w}")
    click.echo(f"ok: {len(cal.campaigns)} campaigns enabled in {cal.source}")


COMMANDS = [campaigns]
