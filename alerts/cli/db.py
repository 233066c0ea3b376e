"""`alerts db`: schema migrations, backup and restore, a read-only status, retention, and the move to PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit
from alerts.store.engine import Database, redact


@click.group()
def db() -> None:
    """Database: schema migrations, backup and restore, status, retention."""


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


# --- backup and restore ---------------------------------------------------------------------------

def _sqlite_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    from alerts.store.engine import async_url

    database = make_url(async_url(url)).database
    if not database or database == ":memory:":
        fail(f"{url}: an in-memory database cannot be backed up or restored")
    return Path(database)  # the same resolution the service uses, so the same file


def _pg_command(tool: str, url: str, *args: str) -> tuple[list[str], dict[str, str], str]:
    """The pg_dump / pg_restore command line, with the password moved to PGPASSWORD (never on argv)."""
    import os

    from sqlalchemy.engine import URL, make_url

    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    plain = URL.create("postgresql", username=u.username, host=u.host, port=u.port, database=u.database,
                       query=u.query).render_as_string(hide_password=False)
    cmd = [tool, *args, f"--dbname={plain}"]
    shown = " ".join(cmd) + ("  (password from PGPASSWORD)" if u.password else "")
    return cmd, env, shown


def _run_pg(tool: str, url: str, *args: str) -> None:
    import shutil
    import subprocess

    cmd, env, shown = _pg_command(tool, url, *args)
    if shutil.which(tool) is None:
        fail([f"{tool} is not installed here; run this where the PostgreSQL client tools are (same major version "
              "as the server or newer):", f"  {shown}"], code=1)
    click.echo(f"running: {shown}")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        fail([f"{tool} failed (exit {proc.returncode}):", *proc.stderr.strip().splitlines()[-5:]], code=1)


def _sqlite_revision(path: Path) -> tuple[str | None, str]:
    """(alembic revision, integrity verdict) of a SQLite file, opened read-only."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
        try:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
        return (row[0] if row else None), verdict
    finally:
        conn.close()


@db.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@config_option
def backup(path: Path, force: bool, config_dir: Path) -> None:
    """Back up the database to PATH while the service runs.

    SQLite: a consistent copy with SQLite's online backup API (a plain file copy of a live WAL
    database can be torn). PostgreSQL: runs `pg_dump --format=custom` (the command is printed;
    if pg_dump is not installed, it is printed for you to run elsewhere and the exit code is 1).
    """
    import sqlite3

    settings = settings_or_exit(config_dir)
    url = settings.database_url
    if path.exists() and not force:
        fail(f"{path} exists: choose a new file name (backups are never overwritten) or pass --force")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not url.startswith("sqlite"):
        _run_pg("pg_dump", url, "--format=custom", "--no-owner", "--no-privileges", f"--file={path}")
        click.echo(f"backed up {redact(url)} to {path} ({path.stat().st_size} bytes); restore with "
                   f"`alerts db restore {path} --yes`")
        return
    source = _sqlite_path(url)
    if not source.is_file():
        fail(f"no database at {source}: nothing to back up (check service.yaml database_url)")
    partial = path.with_name(path.name + ".partial")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        with dst:
            src.backup(dst, pages=4096)  # in steps, so writers are held up only briefly
        # A backup is a single self-contained file: no -wal / -shm companions to forget when copying it.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        src.close()
        dst.close()
    revision, verdict = _sqlite_revision(partial)
    if verdict != "ok":
        partial.unlink(missing_ok=True)
        fail(f"the copy failed its integrity check ({verdict}); the database itself may be damaged", code=1)
    partial.replace(path)
    click.echo(f"backed up {source} to {path} ({path.stat().st_size} bytes, schema revision {revision}); "
               f"restore with `alerts db restore {path} --yes`")


@db.command()
@click.argument("backup_file", metavar="BACKUP", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Confirm: the current database content is replaced by the backup.")
@config_option
def restore(backup_file: Path, yes: bool, config_dir: Path) -> None:
    """Replace the database content with BACKUP (made by `alerts db backup`), then migrate it to this version.

    Stop every `alerts serve` and `alerts worker` first: restoring under a running service loses
    what it writes meanwhile. The backup is checked before anything is replaced.
    """
    import sqlite3

    from alerts.store.migrate import head_revision

    settings = settings_or_exit(config_dir)
    url = settings.database_url
    if not yes:
        fail(f"this replaces everything in {redact(url)} with {backup_file}; stop the service, then run again "
             "with --yes", code=1)
    if url.startswith("sqlite"):
        try:
            revision, verdict = _sqlite_revision(backup_file)
        except sqlite3.DatabaseError as exc:
            fail(f"{backup_file} is not a SQLite backup ({exc}); a PostgreSQL dump is restored with a PostgreSQL "
                 "database_url")
        if verdict != "ok":
            fail(f"{backup_file} fails its integrity check ({verdict}); use an older backup", code=1)
        if revision is None:
            fail(f"{backup_file} has no schema revision: it is not a backup of this service's database", code=1)
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        dst = sqlite3.connect(target, timeout=30)
        try:
            with dst:
                src.backup(dst)
        finally:
            src.close()
            dst.close()
    else:
        _run_pg("pg_restore", url, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                "--exit-on-error", str(backup_file))
    rev = _upgrade_quietly(settings.database_url)
    click.echo(f"restored {backup_file} into {redact(url)}; schema at revision {rev} (this version: {head_revision()})")


def _upgrade_quietly(url: str) -> str | None:
    from alerts.store.migrate import upgrade as do_upgrade

    async def go() -> str | None:
        database = Database(url)
        try:
            return await do_upgrade(database)
        finally:
            await database.close()

    try:
        return run(go)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        fail(f"restored, but migrating it failed: {exc.__class__.__name__}: {exc}".splitlines()[0], code=1)
    raise AssertionError  # unreachable


# --- status and retention -------------------------------------------------------------------------

@db.command()
@config_option
def status(config_dir: Path) -> None:
    """Read-only overview: schema revision, feeds, drafts, outbox depth and age (the /metrics figures)."""
    from alerts.clock import Clock, local
    from alerts.metrics import snapshot
    from alerts.store.migrate import current_revision, head_revision

    settings = settings_or_exit(config_dir)

    async def go():  # type: ignore[no-untyped-def]
        database = Database(settings.database_url)
        try:
            rev = await current_revision(database)
            if rev is None:
                return rev, None
            async with database.read() as conn:
                return rev, await snapshot(conn, Clock().now(),
                                           {f.name: f.stale_after_seconds for f in settings.feeds.feeds})
        finally:
            await database.close()

    try:
        rev, snap = run(go)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        fail(f"cannot read the database {redact(settings.database_url)}: {exc.__class__.__name__}: {exc}"
             .splitlines()[0], code=1)
    head = head_revision()
    click.echo(f"database   {redact(settings.database_url)}")
    click.echo(f"schema     {rev or 'empty'}" + ("" if rev == head else f"  (this version needs {head}: "
                                                 "run `alerts db upgrade`)"))
    if snap is None:
        return
    for f in snap.feeds:
        age = (snap.now - f.last_success_at).total_seconds() if f.last_success_at else None
        limit = snap.stale_after.get(f.name)
        flag = "STALE" if age is None or (limit is not None and age > limit) else "ok"
        click.echo(f"feed       {f.name}: {flag}; last success {local(f.last_success_at) or 'never'}, "
                   f"{f.consecutive_failures} failures in a row" + (f", last error: {f.last_error}" if f.last_error
                                                                    and f.consecutive_failures else ""))
    drafts: dict[str, int] = {}
    for state, _kind, n in snap.drafts:
        drafts[state] = drafts.get(state, 0) + n
    click.echo("drafts     " + (", ".join(f"{k} {v}" for k, v in sorted(drafts.items())) or "none"))
    click.echo(f"outbox     {snap.outbox_depth} open ({snap.outbox_due} due, {snap.outbox_in_flight} in flight, "
               f"{snap.outbox_in_doubt} in doubt); oldest {snap.outbox_oldest_age:.0f} s")
    deliveries: dict[str, int] = {}
    for channel, state, n in snap.deliveries:
        deliveries[f"{channel}/{state}"] = n
    click.echo("deliveries " + (", ".join(f"{k} {v}" for k, v in sorted(deliveries.items())) or "none"))
    errors = [(c, o, e, n) for c, o, e, n in snap.attempts if o != "ok"]
    click.echo("provider   " + (", ".join(f"{c} {o} {e or '-'}: {n}" for c, o, e, n in errors) or "no errors")
               + " (last 24 h)")


@db.command()
@click.option("--dry-run", is_flag=True, help="Only count what would be pruned.")
@config_option
def prune(dry_run: bool, config_dir: Path) -> None:
    """Run a retention round now (retention.yaml); the scheduler also runs it every interval_minutes."""
    from alerts.clock import Clock
    from alerts.retention import due
    from alerts.retention import prune as do_prune
    from alerts.settings import ConfigError
    from alerts.settings.retention import retention_config

    settings = settings_or_exit(config_dir)
    try:
        config = retention_config(settings)
    except ConfigError as exc:
        fail(exc.lines)

    async def go():  # type: ignore[no-untyped-def]
        database = Database(settings.database_url)
        try:
            now = Clock().now()
            return await (due(database, config, now) if dry_run else do_prune(database, config, now))
        finally:
            await database.close()

    counts = run(go)
    verb = "would prune" if dry_run else "pruned"
    click.echo(f"{verb} {counts.raw_inputs} raw inputs (> {config.raw_inputs_days} days), {counts.deliveries} "
               f"finished deliveries (> {config.deliveries_days} days), {counts.delivery_attempts} delivery attempts "
               f"(> {config.delivery_attempts_days} days); the audit log is kept")


# --- moving to PostgreSQL -------------------------------------------------------------------------

@db.command()
@click.argument("target_env", metavar="TARGET_ENV_VAR")
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(100, 50_000))
@config_option
def copy(target_env: str, batch_size: int, config_dir: Path) -> None:
    """Copy every row from the configured database into an empty one whose URL is in $TARGET_ENV_VAR.

    For moving from SQLite to PostgreSQL (runbooks/sqlite-to-postgresql.md). The URL is read from
    the environment so its password never shows in the process list or shell history. The target
    is migrated first and must hold no rows; ids, timestamps and the audit chain are kept as they are.
    Stop the service first: rows written during the copy would be missed.
    """
    import os

    settings = settings_or_exit(config_dir)
    target_url = os.environ.get(target_env, "")
    if not target_url:
        fail(f"${target_env} is not set: export {target_env}=postgresql://USER@HOST:5432/DB (the new database)")
    if target_url == settings.database_url:
        fail(f"${target_env} is the configured database itself: point it at the new, empty one")

    from sqlalchemy import func, select, text

    from alerts.store.migrate import upgrade as do_upgrade
    from alerts.store.tables import metadata

    async def go() -> dict[str, int]:
        source, target = Database(settings.database_url), Database(target_url)
        copied: dict[str, int] = {}
        try:
            await do_upgrade(target)
            async with target.read() as conn:
                for table in metadata.sorted_tables:
                    if (await conn.execute(select(func.count()).select_from(table))).scalar():
                        raise click.ClickException(f"the target already holds rows in {table.name}: use an empty "
                                                   "database")
            for table in metadata.sorted_tables:  # parents before children, so foreign keys hold
                key = table.primary_key.columns.values()[0]
                last: object = None
                copied[table.name] = 0
                while True:
                    query = select(table).order_by(key).limit(batch_size)
                    if last is not None:
                        query = query.where(key > last)
                    async with source.read() as conn:
                        rows = [dict(r._mapping) for r in await conn.execute(query)]
                    if not rows:
                        break
                    async with target.write() as conn:
                        await conn.execute(table.insert(), rows)
                    copied[table.name] += len(rows)
                    last = rows[-1][key.name]
                if target.dialect == "postgresql" and "id" in table.c and table.c.id.autoincrement is True:
                    async with target.write() as conn:
                        # Continue numbering after the copied ids.
                        await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
            return copied
        finally:
            await source.close()
            await target.close()

    try:
        copied = run(go)
    except click.ClickException as exc:
        fail(exc.message)
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        fail(f"copy failed: {exc.__class__.__name__}: {exc}".splitlines()[0], code=1)
    total = sum(copied.values())
    click.echo(f"copied {total} rows from {redact(settings.database_url)} to {redact(target_url)}:")
    for name, n in copied.items():
        if n:
            click.echo(f"  {name}: {n}")
