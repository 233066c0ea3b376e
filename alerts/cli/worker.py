"""`alerts worker`: a process that only dispatches from the outbox (no web, no feeds), for scaling out."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import click

from alerts.cli.common import build_or_exit, config_option, fail, settings_or_exit
from alerts.store.engine import redact

log = logging.getLogger("alerts.worker")


@click.command()
@config_option
@click.option("--burst", is_flag=True, help="Send everything that is due, then exit (cron jobs, tests).")
def worker(config_dir: Path, burst: bool) -> None:
    """Dispatch from the outbox only: claims due deliveries with a lease, sends them, reclaims dead leases.

    Run as many as the provider's rate allows, next to `alerts serve` replicas on one PostgreSQL.
    The schema is not migrated here: run `alerts db upgrade` (or start `alerts serve`) first.
    """
    from alerts import logs

    logs.setup()
    settings = settings_or_exit(config_dir)
    service = build_or_exit(settings)
    asyncio.run(_work(service, burst))


async def _work(service, burst: bool) -> None:  # type: ignore[no-untyped-def]
    from alerts.store.migrate import current_revision, head_revision

    try:
        rev = await current_revision(service.db)
    except Exception as exc:  # noqa: BLE001 - reported in one line, then exit
        await service.close()
        fail(f"cannot reach the database {redact(service.settings.database_url)}: {exc.__class__.__name__}: {exc}"
             .splitlines()[0])
    if rev != head_revision():
        await service.close()
        fail(f"the database {redact(service.settings.database_url)} is at revision {rev}, this version needs "
             f"{head_revision()}: run `alerts db upgrade` first")
    if burst:
        result = await service.worker.drain()
        await service.close()
        click.echo(f"outbox: {result.claimed} claimed, {result.sent} sent, {result.retried} to retry, "
                   f"{result.failed} failed, {result.expired} expired, {result.withdrawn} withdrawn")
        return
    outbox = service.settings.channels.outbox
    reclaim_every = min(30.0, outbox.lease_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker %s dispatching from %s (channels: %s)", service.worker.owner,
             redact(service.settings.database_url), ", ".join(service.channels))
    task = asyncio.create_task(_loop(service, stop, outbox.poll_interval_seconds, reclaim_every))
    await stop.wait()
    log.info("stopping: letting in-flight sends finish")
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=service.settings.service.shutdown_grace_seconds)
    except TimeoutError:
        log.warning("sends did not finish in time; their leases will be reclaimed by another process")
        task.cancel()
    await service.close()
    log.info("stopped")


async def _loop(service, stop: asyncio.Event, poll_seconds: float, reclaim_every: float) -> None:  # type: ignore[no-untyped-def]
    next_reclaim = 0.0
    while not stop.is_set():
        claimed = 0
        try:
            if time.monotonic() >= next_reclaim:
                await service.worker.reclaim()
                next_reclaim = time.monotonic() + reclaim_every
            claimed = (await service.worker.run_once()).claimed
        except Exception:  # noqa: BLE001 - keep dispatching; the error is logged with its cause
            log.exception("outbox batch failed; retrying shortly")
        if claimed == 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass


COMMANDS = [worker]
