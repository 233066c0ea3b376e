"""`alerts db`: schema migrations."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit
from alerts.store.engine import Database, redact


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@config_option
def upgrade(config_dir: Path) -> None:
    """Apply pending migrations (also done at start)."""
    from alerts.store.migrate import upgrade as do_upgrade

    settings = settings_or_exit(config_dir)

    async def go() -> str | None:
        database = Database(settings.database_url)
        try:
            return await do_upgrade(database)
        finally:
            await database.close()

    try:
        rev = run(go)
    except OSError as exc:
        fail(f"cannot reach the database {redact(settings.database_url)}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a driver error is reported in one line, not a traceback
        fail(f"migration failed on {redact(settings.database_url)}: {exc.__class__.__name__}: {exc}".splitlines()[0])
    click.echo(f"database {redact(settings.database_url)} is at revision {rev}")


COMMANDS = [db]
