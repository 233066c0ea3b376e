"""`alerts organisations`: import schools, enterprises, villages and communities with their contacts."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit


@click.group("organisations")
def organisations_group() -> None:
    """Organisations (schools, enterprises, coal mines, communities, villages) and their contacts."""


@organisations_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option
def import_organisations(file: Path, config_dir: Path) -> None:
    """Import a CSV with columns key, name, kind, area, contacts (status optional); re-import updates.

    Contacts: 'channel:address' separated by ';', e.g. 'wecom:https://...; email:head@school.cn';
    DingTalk/Feishu/webhook signing secrets as 'dingtalk:https://...|secret=SEC...'.
    Addresses and secrets are stored encrypted with ALERTS_ENCRYPTION_KEY.
    """
    from alerts.areas import Areas
    from alerts.clock import Clock
    from alerts.crypto import HOW_TO_MAKE_A_KEY, EncryptionKeyError, cipher_from
    from alerts.organisations import OrganisationReport, parse_organisations_csv, upsert_organisations
    from alerts.settings import ConfigError
    from alerts.settings.notices import notices_config
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade
    from alerts.workflow import audit

    settings = settings_or_exit(config_dir)
    try:
        allow = notices_config(settings).webhooks.allow_http_hosts
        cipher = cipher_from(settings.secrets)
    except ConfigError as exc:
        fail(exc.lines)
        return
    except EncryptionKeyError as exc:
        fail(str(exc))
        return
    if cipher is None:
        fail(f"ALERTS_ENCRYPTION_KEY is not set: contact addresses are stored encrypted — {HOW_TO_MAKE_A_KEY}")
        return
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text; save the CSV as UTF-8 and try again")
        return
    rows, problems = parse_organisations_csv(text, Areas(settings.areas), allow_http_hosts=allow)
    report = OrganisationReport(problems=problems)

    async def go() -> None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with database.write() as conn:
                now = Clock().now()
                await upsert_organisations(conn, rows, cipher=cipher, at=now, report=report)
                # Counts only: the audit log never holds contact addresses.
                await audit.append(conn, at=now, actor="cli", action="organisations.import", target=file.name[:200],
                                   origin="cli", after={"added": report.added, "updated": report.updated,
                                                        "unchanged": report.unchanged, "rejected": report.rejected,
                                                        "contacts_added": report.contacts_added,
                                                        "contacts_updated": report.contacts_updated,
                                                        "contacts_removed": report.contacts_removed})
        finally:
            await database.close()

    try:
        run(go)
    except EncryptionKeyError as exc:
        fail(str(exc))
    for p in report.problems:
        click.echo(f"{file}: {p}", err=True)
    click.echo(f"{file}: organisations {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
               f"{report.rejected} rows rejected; contacts {report.contacts_added} added, "
               f"{report.contacts_updated} updated, {report.contacts_removed} removed")
    if report.problems and not rows:
        raise SystemExit(1)


COMMANDS = [organisations_group]
