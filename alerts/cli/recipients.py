"""`alerts recipients`: import residents from CSV, with a validation report."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit


@click.group()
def recipients() -> None:
    """Residents and organisations who receive messages."""


@recipients.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
def import_residents(file: Path, config_dir: Path) -> None:
    """Import residents from a CSV with columns phone, area, groups, language (village, consent optional)."""
    from alerts.areas import Areas
    from alerts.clock import Clock
    from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade

    settings = settings_or_exit(config_dir)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text; save the CSV as UTF-8 and try again")
    rows, problems = parse_residents_csv(text, Areas(settings.areas))
    report = ImportReport(problems=problems)

    async def go() -> None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            with click.progressbar(length=len(rows), label="importing", file=None) as bar:
                async with database.write() as conn:
                    await upsert_residents(conn, rows, at=Clock().now(), report=report, progress=bar.update)
        finally:
            await database.close()

    run(go)
    for p in report.problems:
        click.echo(f"{file}: {p}", err=True)
    click.echo(f"{file}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{report.rejected} rows rejected")
    if report.problems and not rows:
        raise SystemExit(1)


COMMANDS = [recipients]
