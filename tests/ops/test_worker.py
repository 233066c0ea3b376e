"""`alerts worker`: dispatches from the outbox only; burst mode drains and exits; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from alerts.app import Service
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.settings import load_settings
from alerts.store import tables
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from tests.ops.helpers import TOWNSHIPS, base_env, cap_alert, cli, residents_csv, wait_for


async def queue_warning(config_dir: Path, url: str, identifier: str, residents: int) -> Service:
    """An approved warning whose deliveries wait in the outbox (nobody has dispatched yet)."""
    service = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": url}))
    await upgrade(service.db)
    now = service.clock.now()
    async with service.db.write() as conn:
        approver = await user_store.by_name(conn, "wang.approver") or await user_store.add(
            conn, "wang.approver", ["approver"], "approver-password", at=now)
        rows, _ = parse_residents_csv(residents_csv(residents, TOWNSHIPS[:1]), service.areas)
        await upsert_residents(conn, rows, at=now, report=ImportReport())
    intake = await service.receive(cap_alert(identifier, TOWNSHIPS[:1]), source="push:cma")
    await service.actions.approve(approver, intake.drafts.created[0], origin="test")
    return service


async def sent(service: Service) -> int:
    async with service.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(tables.deliveries)
                                       .where(tables.deliveries.c.state == "sent"))).scalar() or 0)


def test_the_worker_refuses_a_database_whose_schema_is_not_current(config_dir: Path, tmp_path: Path) -> None:
    result = cli(["worker", "--burst", "--config", str(config_dir)], base_env(f"sqlite:///{tmp_path / 'new.db'}"),
                 check=False)
    assert result.returncode == 2 and "run `alerts db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_burst_mode_sends_everything_due_and_exits(config_dir: Path, database_url: str) -> None:
    async def prepare() -> None:
        service = await queue_warning(config_dir, database_url, "WORKER-BURST", 7)
        await service.close()

    asyncio.run(prepare())
    out = cli(["worker", "--burst", "--config", str(config_dir)], base_env(database_url)).stdout
    assert "7 sent" in out

    async def count() -> int:
        service = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url}))
        try:
            return await sent(service)
        finally:
            await service.close()

    assert asyncio.run(count()) == 7


async def test_a_running_worker_dispatches_new_work_and_stops_cleanly_on_sigterm(
        config_dir: Path, database_url: str, tmp_path: Path) -> None:
    service = await queue_warning(config_dir, database_url, "WORKER-LIVE", 5)
    log = (tmp_path / "worker.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "alerts", "worker", "--config", str(config_dir)],
                            env=base_env(database_url), stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        await wait_for(lambda: _equals(sent(service), 5), timeout=60, what="five deliveries sent by the worker")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
        output = (tmp_path / "worker.log").read_text()
        assert '"msg": "stopped"' in output and "Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
        await service.close()


async def _equals(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]
