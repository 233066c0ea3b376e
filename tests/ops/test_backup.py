"""`alerts db backup` / `alerts db restore`: a tested restore on SQLite (online backup) and PostgreSQL (pg_dump)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from alerts.store.migrate import head_revision
from tests.conftest import PG_URL, _pg_create, _pg_drop
from tests.ops.helpers import base_env, cli


def users(config_dir: Path, env: dict[str, str]) -> list[str]:
    out = cli(["users", "list", "--config", str(config_dir)], env).stdout
    return [line.split("\t")[0] for line in out.splitlines() if line.strip()]


def test_a_backup_restores_the_database_as_it_was_and_survives_losing_the_database(
        config_dir: Path, database_url: str, tmp_path: Path) -> None:
    env = base_env(database_url)
    cfg = ["--config", str(config_dir)]
    cli(["db", "upgrade", *cfg], env)
    cli(["users", "add", "keep.me", "--role", "observer", *cfg], env)
    backup = tmp_path / "backups" / "alerts-backup"
    out = cli(["db", "backup", str(backup), *cfg], env).stdout
    assert backup.is_file() and f"alerts db restore {backup} --yes" in out
    if database_url.startswith("sqlite"):
        assert sorted(p.name for p in backup.parent.iterdir()) == ["alerts-backup"], "one self-contained file"

    again = cli(["db", "backup", str(backup), *cfg], env, check=False)
    assert again.returncode != 0 and "exists" in again.stderr, "a backup is never overwritten silently"

    cli(["users", "add", "added.later", "--role", "observer", *cfg], env)
    refused = cli(["db", "restore", str(backup), *cfg], env, check=False)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert sorted(users(config_dir, env)) == ["added.later", "keep.me"], "nothing replaced without --yes"

    out = cli(["db", "restore", str(backup), "--yes", *cfg], env).stdout
    assert "restored" in out and f"revision {head_revision()}" in out
    assert users(config_dir, env) == ["keep.me"]

    # Disaster: the database is gone. Restore into a brand-new one.
    if database_url.startswith("sqlite"):
        db_file = Path(database_url.removeprefix("sqlite:///"))
        for p in db_file.parent.glob(db_file.name + "*"):
            p.unlink()
        cli(["db", "restore", str(backup), "--yes", *cfg], env)
        assert users(config_dir, env) == ["keep.me"]
        status = cli(["db", "status", *cfg], env).stdout
        assert f"schema     {head_revision()}" in status and "outbox     0 open" in status
        return
    assert PG_URL
    fresh = asyncio.run(_pg_create(PG_URL))
    try:
        fresh_env = base_env(fresh)
        cli(["db", "restore", str(backup), "--yes", *cfg], fresh_env)
        assert users(config_dir, fresh_env) == ["keep.me"]
    finally:
        asyncio.run(_pg_drop(PG_URL, fresh))


def test_backing_up_postgresql_without_pg_dump_prints_the_documented_command(
        config_dir: Path, tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("needs ALERTS_TEST_POSTGRES_URL (CI sets it to the local server)")
    env = base_env(PG_URL.replace("postgres@", "postgres:s3cret@"))
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env["PATH"] = str(empty_bin)
    result = cli(["db", "backup", str(tmp_path / "x.dump"), "--config", str(config_dir)], env, check=False)
    assert result.returncode == 1
    assert "pg_dump is not installed" in result.stderr
    assert "pg_dump --format=custom --no-owner --no-privileges" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout, "the password goes to PGPASSWORD, never on screen"


def test_backing_up_a_missing_sqlite_database_says_what_to_check(config_dir: Path, tmp_path: Path) -> None:
    env = base_env(f"sqlite:///{tmp_path / 'nowhere' / 'alerts.db'}")
    result = cli(["db", "backup", str(tmp_path / "b.db"), "--config", str(config_dir)], env, check=False)
    assert result.returncode == 2 and "no database at" in result.stderr and "Traceback" not in result.stderr


def test_restoring_something_that_is_not_a_backup_is_refused(config_dir: Path, tmp_path: Path) -> None:
    env = base_env(f"sqlite:///{tmp_path / 'alerts.db'}")
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all " * 100)
    result = cli(["db", "restore", str(junk), "--yes", "--config", str(config_dir)], env, check=False)
    assert result.returncode != 0 and "not a SQLite backup" in result.stderr and "Traceback" not in result.stderr


def test_moving_from_sqlite_to_postgresql_copies_every_row_and_keeps_the_audit_chain(
        config_dir: Path, tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("needs ALERTS_TEST_POSTGRES_URL (CI sets it to the local server)")
    from tests.ops.helpers import TOWNSHIPS, cap_alert, residents_csv

    sqlite_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    env = base_env(sqlite_url)
    cfg = ["--config", str(config_dir)]
    cli(["db", "upgrade", *cfg], env)
    cli(["users", "add", "wang.approver", "--role", "approver", *cfg], env)
    csv = tmp_path / "residents.csv"
    csv.write_text(residents_csv(20, TOWNSHIPS[:2]), encoding="utf-8")
    cli(["recipients", "import", str(csv), *cfg], env)
    alert = tmp_path / "alert.xml"
    alert.write_bytes(cap_alert("MOVE-1", TOWNSHIPS[:2]))
    asyncio.run(_receive_approve_send(config_dir, sqlite_url, alert.read_bytes()))

    target = asyncio.run(_pg_create(PG_URL))
    try:
        env["ALERTS_NEW_DATABASE_URL"] = target
        refused = cli(["db", "copy", "ALERTS_UNSET_VARIABLE", *cfg], env, check=False)
        assert refused.returncode == 2 and "is not set" in refused.stderr
        out = cli(["db", "copy", "ALERTS_NEW_DATABASE_URL", *cfg], env).stdout
        assert "deliveries: 20" in out and "audit_log:" in out
        again = cli(["db", "copy", "ALERTS_NEW_DATABASE_URL", *cfg], env, check=False)
        assert again.returncode == 2 and "already holds rows" in again.stderr, "never copies into a used database"

        pg_env = base_env(target)
        verify = cli(["audit", "verify", *cfg], pg_env, check=False)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # New rows continue after the copied ids.
        cli(["users", "add", "li.observer", "--role", "observer", *cfg], pg_env)
        assert sorted(users(config_dir, pg_env)) == ["li.observer", "wang.approver"]
        status = cli(["db", "status", *cfg], pg_env).stdout
        assert "sms/sent 20" in status
    finally:
        asyncio.run(_pg_drop(PG_URL, target))


async def _receive_approve_send(config_dir: Path, url: str, data: bytes) -> None:
    from alerts.app import Service
    from alerts.settings import load_settings
    from alerts.store import users as user_store

    service = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": url}))
    try:
        intake = await service.receive(data, source="push:cma")
        async with service.db.read() as conn:
            approver = await user_store.by_name(conn, "wang.approver")
        await service.actions.approve(approver, intake.drafts.created[0], origin="test")
        await service.worker.drain()
    finally:
        await service.close()
