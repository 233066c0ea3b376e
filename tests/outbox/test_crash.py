"""Crash safety, measured from outside: real `alerts worker` processes killed with SIGKILL at random
points while a red warning goes to 3,000 residents through a Twilio-like server that answers 2 % of
requests 429 and 1 % 500; each is restarted. Afterwards every resident was sent the warning exactly
once, or (in doubt) at most twice; none is lost; duplicates stay within kills x concurrency; and what a
kill leaves in flight is at most the senders' concurrency, not a batch.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from alerts.store.tables import deliveries
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio, start
from tests.conftest import PG_URL
from tests.ops.helpers import set_yaml_value
from tests.outbox.helpers import add_residents, approved_draft

RESIDENTS = 3000
KILLS = 5
CONCURRENCY = 32


def crash_config(config_dir: Path, rate: int) -> None:
    """Fast retries and short pauses so the test takes seconds; the default concurrency of 32."""
    path = config_dir / "channels.yaml"
    for pattern, value in ((r"^  messages_per_second: .*$", f"  messages_per_second: {rate}"),
                           (r"^  burst: 100$", "  burst: 1000"),
                           (r"^  concurrency: .*$", f"  concurrency: {CONCURRENCY}"),
                           (r"^  lease_seconds: .*$", "  lease_seconds: 20"),
                           (r"^  poll_interval_seconds: .*$", "  poll_interval_seconds: 0.1"),
                           (r"^  base_delay_seconds: .*$", "  base_delay_seconds: 0.2"),
                           (r"^  max_delay_seconds: .*$", "  max_delay_seconds: 1"),
                           (r"^  base_seconds: .*$", "  base_seconds: 0.1"),
                           (r"^  max_seconds: .*$", "  max_seconds: 1")):
        set_yaml_value(path, pattern, value)


@dataclass
class Crashes:
    """Worker processes against one database and one Twilio-like server, killed and restarted."""

    database_url: str
    config_dir: Path
    url: str
    logs: Path
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    started: int = 0

    async def start(self) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ALERTS_"))}
        env.update(ALERTS_DATABASE_URL=self.database_url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                   TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID, ALERTS_TWILIO_API_BASE_URL=self.url)
        self.started += 1
        log = (self.logs / f"worker-{self.started}.log").open("w", encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "alerts", "worker", "--config",
                                                    str(self.config_dir), env=env, stdout=log, stderr=log)
        self.procs.append(proc)
        return proc

    async def stop_all(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def count(database: Any, *states: str) -> int:
    async with database.read() as conn:
        return int((await conn.execute(select(func.count()).where(deliveries.c.state.in_(states)))).scalar() or 0)


async def held_by(database: Any, pid: int | None) -> int:
    """Deliveries in flight under one worker process (its lease owner names host:pid:...)."""
    async with database.read() as conn:
        return int((await conn.execute(select(func.count()).where(
            deliveries.c.state == "in_flight", deliveries.c.lease_owner.like(f"%:{pid}:%")))).scalar() or 0)


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")


async def run_crashes(database: Any, database_url: str, config_dir: Path, tmp_path: Path, *,
                      replicas: int) -> None:
    # Replicas share the sender's rate: slow enough that the victim is caught sending, time and again.
    crash_config(config_dir, 100_000 if replicas == 1 else 100)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    async with database.write() as conn:
        await add_residents(conn, RESIDENTS, at=now)
        _, fan = await approved_draft(conn, at=now)
    assert fan.deliveries == RESIDENTS

    server = FakeTwilio(error_rates={429: 0.02, 500: 0.01})
    runner, url = await start(server)
    (tmp_path / "logs").mkdir()
    crashes = Crashes(database_url, config_dir, url, tmp_path / "logs")
    rng = random.Random(13 + replicas)
    in_flight_at_kills: list[int] = []
    try:
        for _ in range(replicas - 1):  # replicas left running throughout
            await crashes.start()
        victim = await crashes.start()
        for _ in range(KILLS):
            # Kill at a random point of the victim's sending: once it holds deliveries in flight, after a
            # random number of further requests.
            await wait_until(lambda v=victim: held_by(database, v.pid), 30, "the victim sending")
            target = server.requests + rng.randint(1, 150)
            deadline = time.monotonic() + 30
            while server.requests < target and victim.returncode is None and time.monotonic() < deadline:
                await asyncio.sleep(0.002)
            assert victim.returncode is None, "the worker was alive when it was killed"
            victim.send_signal(signal.SIGKILL)
            await victim.wait()
            in_flight_at_kills.append(await held_by(database, victim.pid))
            victim = await crashes.start()
        await wait_until(lambda: _finished(database), 90, f"every delivery final ({server.requests} requests)")
    finally:
        await crashes.stop_all()
        await runner.cleanup()

    async with database.read() as conn:
        rows = list(await conn.execute(select(deliveries.c.address, deliveries.c.state, deliveries.c.in_doubt,
                                              deliveries.c.reconciled)))
    assert len(rows) == RESIDENTS
    assert {r.state for r in rows} == {"sent"}, "every intended resident was sent the warning"
    lost = [r.address for r in rows if server.by_to[r.address] == 0]
    assert not lost, f"{len(lost)} residents never reached the SMS server"
    for r in rows:
        times = server.by_to[r.address]
        assert times == 1 or (times == 2 and r.in_doubt), (r, times)
    duplicates = server.duplicates()
    assert duplicates <= KILLS * CONCURRENCY, duplicates
    # A kill leaves in doubt only what was really in flight: at most the killed process's senders,
    # never a claimed batch.
    assert max(in_flight_at_kills) <= CONCURRENCY, in_flight_at_kills
    assert sum(in_flight_at_kills) > 0, in_flight_at_kills
    settled = sum(1 for r in rows if r.in_doubt)
    found = sum(1 for r in rows if r.reconciled in ("found", "callback"))
    print(f"\nkills {KILLS}, replicas {replicas}: in flight at each kill {in_flight_at_kills}; in doubt {settled}, "
          f"found at the provider {found}, duplicates {duplicates}; {server.requests} requests")


async def _finished(database: Any) -> bool:
    return await count(database, "queued", "in_flight") == 0


async def test_sigkilled_workers_lose_nothing_and_duplicate_at_most_what_was_in_flight(
        database: Any, database_url: str, config_dir: Path, tmp_path: Path) -> None:
    await run_crashes(database, database_url, config_dir, tmp_path, replicas=1)


@pytest.mark.skipif(not PG_URL, reason="replicas share PostgreSQL: set ALERTS_TEST_POSTGRES_URL")
async def test_two_replicas_on_postgresql_one_killed_repeatedly_lose_nothing(
        database: Any, database_url: str, config_dir: Path, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the replica run is for PostgreSQL")
    await run_crashes(database, database_url, config_dir, tmp_path, replicas=2)
