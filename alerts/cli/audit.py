"""`alerts audit verify` and `alerts audit show`: check the hash chain of the audit log and read it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit
from alerts.clock import local
from alerts.store.engine import Database
from alerts.store.migrate import upgrade
from alerts.workflow import audit as audit_log


@click.group()
def audit() -> None:
    """The append-only, hash-chained audit log of every decision and change."""


@audit.command("verify")
@click.option("--head", "expected_head", default=None,
              help="A head hash noted earlier (printed by a previous verify): fails if it is no longer in the chain, "
                   "which detects entries removed from the end.")
@config_option
def verify(expected_head: str | None, config_dir: Path) -> None:
    """Recompute every entry's hash; exit 1 naming each changed or removed entry."""
    settings = settings_or_exit(config_dir)

    async def go() -> tuple[audit_log.VerifyResult, bool]:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with database.read() as conn:
                result = await audit_log.verify(conn)
                found = expected_head is None or await audit_log.contains(conn, expected_head)
                return result, found
        finally:
            await database.close()

    result, head_found = run(go)
    problems = list(result.problems)
    if not head_found:
        problems.append(f"the head {expected_head} noted earlier is not in the log: entries after it were removed "
                        "or the log was replaced")
    if problems:
        fail([f"audit log: {p}" for p in problems]
             + [f"audit log: {len(problems)} problem(s) in {result.entries} entries — the log was tampered with; "
                "keep this output and compare with a backup"], code=1)
    click.echo(f"ok: {result.entries} audit entries, chain intact; head {result.head}")


@audit.command("show")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--target", default=None, help="Only entries about this target, e.g. draft:12.")
@config_option
def show(limit: int, target: str | None, config_dir: Path) -> None:
    """The most recent entries, newest first."""
    settings = settings_or_exit(config_dir)

    async def go() -> list:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with database.read() as conn:
                return await audit_log.recent(conn, limit=limit, target=target)
        finally:
            await database.close()

    for row in run(go):
        after = json.dumps(row.after, ensure_ascii=False) if row.after is not None else ""
        click.echo(f"{row.id}\t{local(row.at)}\t{row.actor}\t{row.action}\t{row.target}\t{row.origin}\t{after}")


COMMANDS = [audit]
