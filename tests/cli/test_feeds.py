"""`alerts feeds status`: health per feed from the database, with the stale flag."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from alerts.cli import cli
from alerts.settings import load_settings
from alerts.store import feeds as feed_store
from alerts.store.engine import Database
from alerts.store.migrate import upgrade


def add_http_feed(config_dir: Path) -> None:
    feeds = config_dir / "feeds.yaml"
    feeds.write_text(feeds.read_text(encoding="utf-8") + (
        "  - name: jincheng\n    kind: http\n    url: http://127.0.0.1:9/index.atom\n"
        "    stale_after_seconds: 600\n    allow_networks: [127.0.0.0/8]\n"), encoding="utf-8")


async def record(config_dir: Path) -> None:
    settings = load_settings(config_dir, env={})
    db = Database(settings.database_url)
    await upgrade(db)
    now = datetime.now(UTC)
    async with db.write() as conn:
        await feed_store.record_success(conn, "demo", at=now - timedelta(seconds=30), new_entries=2)
        await feed_store.record_success(conn, "jincheng", at=now - timedelta(hours=2), new_entries=5)
        await feed_store.record_failure(conn, "jincheng", at=now - timedelta(minutes=1),
                                        reason="HTTP 503 Service Unavailable from http://127.0.0.1:9/index.atom")
        await feed_store.record_failure(conn, "jincheng", at=now, reason="timed out after 20 s")
    await db.close()


def test_status_shows_health_and_flags_a_silent_feed(config_dir: Path) -> None:
    (config_dir.parent / "var").mkdir(exist_ok=True)
    add_http_feed(config_dir)
    asyncio.run(record(config_dir))
    result = CliRunner().invoke(cli, ["feeds", "status", "--json", "--config", str(config_dir)])
    assert result.exit_code == 1  # a stale feed makes the command fail, for monitoring
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["demo"]["stale"] is False and rows["demo"]["entries_seen"] == 2
    jincheng = rows["jincheng"]
    assert jincheng["stale"] is True and jincheng["consecutive_failures"] == 2
    assert jincheng["last_error"] == "timed out after 20 s" and jincheng["entries_seen"] == 5
    assert jincheng["last_success_at"] is not None and jincheng["silent_seconds"] > 600

    text = CliRunner().invoke(cli, ["feeds", "status", "--config", str(config_dir)])
    assert "jincheng (http): STALE" in text.stdout and "demo (demo): ok" in text.stdout
    assert "last error:" in text.stdout and "timed out after 20 s" in text.stdout
    assert "failures in a row: 2; entries seen: 5" in text.stdout


def test_status_without_a_database_says_what_to_do(config_dir: Path) -> None:
    service = config_dir / "service.yaml"
    service.write_text(service.read_text(encoding="utf-8").replace(
        "database_url: sqlite:///", "database_url: sqlite:////nonexistent-dir/"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["feeds", "status", "--config", str(config_dir)])
    assert result.exit_code == 2 and "cannot read feed health" in result.stderr and "Traceback" not in result.stderr
