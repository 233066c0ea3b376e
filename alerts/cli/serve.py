"""`alerts serve`: the web app and the background work in one process, stopped gracefully."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click
from aiohttp import web

from alerts.cli.common import build_or_exit, config_option, fail, settings_or_exit
from alerts.store.engine import redact

log = logging.getLogger("alerts.serve")


@click.command()
@config_option
@click.option("--host", default=None, help="Address to listen on [default: service.yaml http.host, 127.0.0.1].")
@click.option("--port", default=None, type=int, help="Port [default: service.yaml http.port, 8080].")
def serve(config_dir: Path, host: str | None, port: int | None) -> None:
    """Run the service: console, API, hooks, feeds, scheduler and outbox."""
    from alerts import logs

    logs.setup()
    settings = settings_or_exit(config_dir)
    service = build_or_exit(settings)
    host = host or settings.service.http.host
    port = port or settings.service.http.port
    try:
        asyncio.run(_serve(service, host, port))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


async def _serve(service, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    from alerts.scheduler import Background
    from alerts.store.migrate import upgrade
    from alerts.web.api import OUTBOX_WAKE_KEY
    from alerts.web.app import make_app
    from alerts.web.health import BACKGROUND_KEY

    try:
        rev = await upgrade(service.db)
    except Exception as exc:  # noqa: BLE001 - reported in one line, then exit
        fail(f"cannot prepare the database {redact(service.settings.database_url)}: {exc.__class__.__name__}: {exc}"
             .splitlines()[0])
    log.info("database %s at revision %s", redact(service.settings.database_url), rev)
    background = Background(service)
    app = make_app(service)
    app[BACKGROUND_KEY] = background
    app[OUTBOX_WAKE_KEY] = background.outbox_wakeup.set
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    background.start()
    log.info("serving on http://%s:%d (channels: %s)", host, port,
             ", ".join(f"{k}={type(v).__name__}" for k, v in service.channels.items()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: no new requests; letting in-flight sends finish")
    await site.stop()
    await background.stop(service.settings.service.shutdown_grace_seconds)
    await runner.cleanup()
    await service.close()
    log.info("stopped")


COMMANDS = [serve]
