"""`alerts outbox drain` and `alerts outbox status`, as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.store import deliveries as store
from tests.outbox.helpers import add_residents, approved_draft


def alerts(config_dir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["ALERTS_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "alerts", "outbox", *args, "--config", str(config_dir)], env=env,
                          text=True, capture_output=True, timeout=120)


async def test_drain_sends_through_the_log_channel_and_status_counts_what_a_crash_left(
        database: Any, database_url: str, config_dir: Path) -> None:
    now = datetime.now(UTC)
    async with database.write() as conn:
        await add_residents(conn, 12, at=now)
        await approved_draft(conn, at=now)
        # A worker that died on another host with 5 deliveries in flight and an expired lease.
        await store.claim(conn, owner="gone:1:x", now=now, lease_seconds=0.001, limit=5)

    done = alerts(config_dir, database_url, "drain")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["reclaimed_in_doubt"] == 5 and result["sent"] == 12

    status = alerts(config_dir, database_url, "status", "--json")
    assert status.returncode == 0, status.stderr
    figures = json.loads(status.stdout)
    assert figures["by_state"] == {"sent": 12}
    assert (figures["in_doubt_total"], figures["in_doubt_resent"]) == (5, 5)
    table = alerts(config_dir, database_url, "status")
    assert "in doubt after crashes: 5" in table.stdout and "policy: warnings resend" in table.stdout
    log_lines = (config_dir.parent / "var" / "outbox.log").read_text(encoding="utf-8").splitlines()
    assert len(log_lines) == 12 and all("****" in json.loads(x)["to"] for x in log_lines)


async def test_status_says_in_one_screen_what_is_stuck_and_why(database: Any, database_url: str,
                                                               config_dir: Path) -> None:
    from datetime import timedelta

    from alerts.store import budgets

    now = datetime.now(UTC)
    async with database.write() as conn:
        await add_residents(conn, 3, at=now)
        await approved_draft(conn, at=now - timedelta(minutes=5))
        await budgets.pause(conn, "sms", now=now, after=600, base=1, cap=600, code="20003",
                            reason="Twilio 20003: authentication failed")
        await store.claim(conn, owner="gone:1:x", now=now - timedelta(minutes=5), lease_seconds=1, limit=1)
    screen = alerts(config_dir, database_url, "status")
    assert screen.returncode == 0, screen.stderr
    lines = screen.stdout.splitlines()
    assert lines[0].startswith("STUCK: paused: sms until") and "authentication failed" in lines[0]
    assert any("in flight past their lease" in line for line in lines)
    assert len(lines) <= 25, "one screen"
    figures = json.loads(alerts(config_dir, database_url, "status", "--json").stdout)
    assert figures["paused"]["sms"]["code"] == "20003" and figures["stuck_in_flight"] == 1
