"""/healthz answers while the process lives; /readyz only when database, migrations and scheduler are fine."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web

from alerts.app import Service
from alerts.settings import load_settings
from alerts.store.migrate import upgrade
from alerts.web.app import make_app
from alerts.web.health import BACKGROUND_KEY
from tests.ops.helpers import free_port


class Stopped:
    running = False


class Running:
    running = True


async def probe(service: Service, background: object | None) -> tuple[int, dict, int]:
    app = make_app(service)
    if background is not None:
        app[BACKGROUND_KEY] = background
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                live = r.status
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                return live, await r.json(), r.status
    finally:
        await runner.cleanup()


async def test_readyz_names_what_is_not_ready_and_healthz_stays_alive(config_dir: Path, database_url: str) -> None:
    service = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url}))
    try:
        live, body, status = await probe(service, Stopped())
        assert live == 200 and status == 503
        assert body["checks"]["database"] == "ok"
        assert "run alerts db upgrade" in body["checks"]["migrations"]
        assert body["checks"]["scheduler"] == "not running"
        await upgrade(service.db)
        live, body, status = await probe(service, Running())
        assert (live, status, body["status"]) == (200, 200, "ok")
    finally:
        await service.close()


async def test_readyz_reports_an_unreachable_database_without_details_of_the_url(config_dir: Path) -> None:
    env = {"ALERTS_DATABASE_URL": "postgresql://alerts:secret@127.0.0.1:1/alerts"}
    service = Service(load_settings(config_dir, env=env))
    try:
        live, body, status = await probe(service, Running())
        assert live == 200 and status == 503
        assert body["checks"]["database"].startswith("unreachable")
        assert "secret" not in str(body)
    finally:
        await service.close()
