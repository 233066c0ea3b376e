"""`alerts people` (the 叫应 roster) and `alerts events` (what is open, who is still silent)."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit


@click.group("people")
def people_group() -> None:
    """The 叫应 roster: township heads, village party secretaries, safety officers, duty offices."""


@people_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
def import_people(file: Path, config_dir: Path) -> None:
    """Import a CSV with columns key, name, role, level, area, unit, kind, rank, phone (status optional).

    level: township, village, institution or duty_office; rank 1 is asked first. Bad rows are
    reported (row, field, problem) and skipped; importing again updates people by key."""
    from alerts.areas import Areas
    from alerts.clock import Clock
    from alerts.events.people import parse_people_csv, upsert_people
    from alerts.recipients import ImportReport
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade
    from alerts.workflow import audit

    settings = settings_or_exit(config_dir)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text; save the CSV as UTF-8 and try again")
        return
    rows, problems = parse_people_csv(text, Areas(settings.areas))
    report = ImportReport(problems=problems)

    async def go() -> None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with database.write() as conn:
                now = Clock().now()
                await upsert_people(conn, rows, at=now, report=report)
                await audit.append(conn, at=now, actor="cli", action="people.import", target=file.name[:200],
                                   origin="cli", after={"added": report.added, "updated": report.updated,
                                                        "unchanged": report.unchanged, "rejected": report.rejected})
        finally:
            await database.close()

    run(go)
    for p in report.problems:
        click.echo(f"{file}: {p}", err=True)
    click.echo(f"{file}: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{report.rejected} rows rejected")
    if report.problems and not rows:
        raise SystemExit(1)


@people_group.command("list")
@click.option("--area", help="a township code or name")
@config_option
def list_people(area: str | None, config_dir: Path) -> None:
    """The roster by township, unit and rank (phones masked)."""
    from alerts.areas import Areas
    from alerts.events.people import LEVEL_ZH, in_areas
    from alerts.recipients import mask_phone
    from alerts.store.engine import Database

    settings = settings_or_exit(config_dir)
    areas = Areas(settings.areas)
    codes = list(areas.townships)
    if area:
        code = areas.code_for(area)
        if code is None:
            fail(f"{area!r} is not a township code or name of areas.yaml")
            return
        codes = [code]

    async def go() -> list[object]:
        database = Database(settings.database_url)
        try:
            async with database.read() as conn:
                return await in_areas(conn, codes)
        finally:
            await database.close()

    for p in run(go):
        township = (areas.names([p.area]) or [p.area])[0]  # type: ignore[attr-defined]
        click.echo(f"{township}\t{LEVEL_ZH.get(p.level, p.level)}\t{p.unit or '-'}\t{p.rank}\t{p.role}\t"  # type: ignore[attr-defined]
                   f"{p.name}\t{mask_phone(p.phone)}")  # type: ignore[attr-defined]


@click.group("events")
def events_group() -> None:
    """Events (事件): what is open, tasks, and who has not acknowledged yet."""


@events_group.command("list")
@click.option("--open", "only_open", is_flag=True, help="only open events")
@config_option
def list_events(only_open: bool, config_dir: Path) -> None:
    """Events, open first, with the 叫应 units still silent."""
    from alerts.clock import local
    from alerts.events import store
    from alerts.events.view import silent_counts
    from alerts.store.engine import Database

    settings = settings_or_exit(config_dir)

    async def go() -> tuple[list[object], dict[int, dict[str, int]]]:
        database = Database(settings.database_url)
        try:
            async with database.read() as conn:
                rows = await store.list_events(conn, state="open" if only_open else None)
                return rows, await silent_counts(conn, [int(r.id) for r in rows])  # type: ignore[attr-defined]
        finally:
            await database.close()

    rows, counts = run(go)
    if not rows:
        click.echo("no events")
    for r in rows:
        c = counts.get(int(r.id), {"units": 0, "silent": 0})  # type: ignore[attr-defined]
        click.echo(f"#{r.id}\t{r.state}\t{local(r.opened_at)}\t{r.title}\t"  # type: ignore[attr-defined]
                   f"叫应 {c['units'] - c['silent']}/{c['units']} acknowledged, {c['silent']} silent")


@events_group.command("show")
@click.argument("event_id", type=int)
@config_option
def show_event(event_id: int, config_dir: Path) -> None:
    """One event: tasks, and per township who acknowledged and who is silent."""
    from alerts.cli.common import build_or_exit
    from alerts.events.view import event_view

    settings = settings_or_exit(config_dir)
    service = build_or_exit(settings)

    async def go() -> dict[str, object] | None:
        try:
            async with service.db.read() as conn:
                return await event_view(conn, service.events, event_id)
        finally:
            await service.close()

    view = run(go)
    if view is None:
        fail(f"no event {event_id} (alerts events list)")
        return
    click.echo(f"#{view['id']} {view['title']} ({view['state']})")
    for t in view["tasks"]:  # type: ignore[attr-defined]
        click.echo(f"  task {t['department_name']}: {t['title']} — {t['state_zh']}")
    for township in view["acknowledgements"]:  # type: ignore[attr-defined]
        for u in township["units"]:
            ack = u["acknowledged"]
            state = f"acknowledged by {ack['by']} via {ack['via']}" if ack else f"SILENT {u['silent_minutes']} min"
            click.echo(f"  {u['kind']} {u['unit']}: {state}")


COMMANDS = [people_group, events_group]
