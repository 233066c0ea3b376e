"""Crash safety: a worker process killed with SIGKILL mid-dispatch loses nothing and duplicates at most
what was in flight at each kill."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts.store.tables import deliveries, residents
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, start
from tests.outbox.helpers import add_residents, approved_draft

MESSAGES = 10_000
KILLS = 4


def fast_channels(config_dir: Path) -> None:
    path = config_dir / "channels.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"messages_per_second: \d+", "messages_per_second: 100000", text)
    text = re.sub(r"burst: \d+", "burst: 1000", text)
    text = re.sub(r"concurrency: \d+", "concurrency: 64", text)
    path.write_text(text, encoding="utf-8")


async def in_flight(database: Any) -> int:
    async with database.read() as conn:
        return int((await conn.execute(select(func.count()).where(deliveries.c.state == "in_flight"))).scalar() or 0)


async def test_sigkilled_workers_lose_nothing_and_duplicate_at_most_what_was_in_flight(
        database: Any, database_url: str, config_dir: Path) -> None:
    fast_channels(config_dir)
    now = datetime.now(UTC)
    async with database.write() as conn:
        await add_residents(conn, MESSAGES, at=now)
        _, fan = await approved_draft(conn, at=now)
    assert fan.deliveries == MESSAGES

    server = FakeTwilio()
    runner, url = await start(server)
    env = dict(os.environ, ALERTS_DATABASE_URL=database_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID,
               TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID,
               ALERTS_TWILIO_API_BASE_URL=url)
    command = [sys.executable, "-m", "alerts", "outbox", "drain", "--config", str(config_dir)]
    rng = random.Random(6)
    in_flight_at_kills: list[int] = []
    try:
        for _ in range(KILLS):
            proc = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            # Kill at a random point of the sending: after a random number of further requests.
            target = server.requests + rng.randint(1, 2500)
            deadline = time.monotonic() + 60
            while server.requests < target and proc.returncode is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            if proc.returncode is None:
                proc.send_signal(signal.SIGKILL)
            await proc.communicate()
            in_flight_at_kills.append(await in_flight(database))
        # The last run is left to finish.
        proc = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        await runner.cleanup()

    async with database.read() as conn:
        rows = list(await conn.execute(select(deliveries.c.address, deliveries.c.state, deliveries.c.error,
                                              deliveries.c.in_doubt)))
        people = int((await conn.execute(select(func.count()).select_from(residents))).scalar() or 0)
    assert len(rows) == MESSAGES == people, "one delivery per resident, none missing"
    states = {r.state for r in rows}
    assert states <= {"sent", "failed"}, states
    assert all(r.error for r in rows if r.state == "failed"), "every failure carries its reason"
    # Everything recorded as sent reached the server at least once.
    received = set(server.by_to)
    assert all(r.address in received for r in rows if r.state == "sent")
    assert server.duplicates() <= sum(in_flight_at_kills), (server.duplicates(), in_flight_at_kills)
    assert sum(in_flight_at_kills) > 0, "the kills happened while messages were in flight"
