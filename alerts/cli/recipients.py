"""`alerts recipients`: import residents from CSV with a validation report; export or erase a person."""

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
    """Import residents from a CSV with columns phone, area, groups, language (village, consent optional).

    Bad rows are reported (row, field, problem) and skipped; good rows are imported. Importing again
    updates residents by phone number; it never re-subscribes someone who opted out."""
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


@recipients.command("forget")
@click.argument("phone")
@click.option("--export", "export_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Write what is held about the person to this JSON file first (default: print it).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@config_option
def forget(phone: str, export_to: Path | None, yes: bool, config_dir: Path) -> None:
    """Export, then erase, everything held about one phone number (a person's request)."""
    import json

    from alerts.clock import Clock
    from alerts.recipients import export_person, forget_person, mask_phone, normalise_phone
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade

    normal = normalise_phone(phone)
    if normal is None:
        fail(f"{phone!r} is not a valid phone number; give it as on the resident list, e.g. +8613800138000")
    assert normal is not None
    settings = settings_or_exit(config_dir)

    async def export() -> dict | None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with database.read() as conn:
                return await export_person(conn, normal)
        finally:
            await database.close()

    data = run(export)
    if data is None:
        click.echo(f"nothing is held about {mask_phone(normal)}")
        return
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if export_to is not None:
        export_to.write_text(text + "\n", encoding="utf-8")
        click.echo(f"exported to {export_to}")
    else:
        click.echo(text)
    if not yes and not click.confirm(f"erase {mask_phone(normal)} now?", default=False):
        click.echo("nothing erased")
        return

    async def erase() -> int:
        database = Database(settings.database_url)
        try:
            async with database.write() as conn:
                return await forget_person(conn, normal, at=Clock().now(), actor="cli", origin="cli")
        finally:
            await database.close()

    changed = run(erase)
    click.echo(f"erased {mask_phone(normal)}: {changed} records removed or anonymised")


COMMANDS = [recipients]
