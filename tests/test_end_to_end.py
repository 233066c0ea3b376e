"""The thin slice, all real: demo feed → stored alert → route → draft → API approval → delivery → SMS log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from alerts.app import Service
from alerts.clock import Clock
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.scheduler import Background
from alerts.settings import load_settings
from alerts.store import users as user_store
from alerts.web.api import OUTBOX_WAKE_KEY
from alerts.web.app import make_app
from alerts.web.health import BACKGROUND_KEY

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError("condition not reached in time")


async def test_demo_alert_is_approved_by_a_second_user_and_sent(config_dir: Path, database_url: str) -> None:
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url})
    service = Service(settings)
    from alerts.store.migrate import upgrade

    await upgrade(service.db)
    clock = Clock()
    async with service.db.write() as conn:
        editor = await user_store.add(conn, "li.editor", ["editor"], "editor-password-1", at=clock.now())
        approver = await user_store.add(conn, "wang.approver", ["approver"], "approver-password-1", at=clock.now())
        editor_token = await user_store.create_token(conn, editor, "test", at=clock.now())
        approver_token = await user_store.create_token(conn, approver, "test", at=clock.now())
        rows, problems = parse_residents_csv((ROOT / "config/demo/residents.csv").read_text(), service.areas)
        assert not problems
        await upsert_residents(conn, rows, at=clock.now(), report=ImportReport())

    background = Background(service)
    app = make_app(service)
    app[BACKGROUND_KEY] = background
    app[OUTBOX_WAKE_KEY] = background.outbox_wakeup.set
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    background.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200

            async def pending() -> list:
                async with http.get(f"{base}/api/v1/drafts?state=pending",
                                    headers={"Authorization": f"Bearer {approver_token}"}) as r:
                    assert r.status == 200
                    return (await r.json())["drafts"]

            [draft] = await wait_for(pending)
            assert draft["level"] == "orange" and draft["hazard"] == "rainstorm"

            async with http.get(f"{base}/api/v1/drafts/{draft['id']}",
                                headers={"Authorization": f"Bearer {approver_token}"}) as r:
                full = await r.json()
            sms = next(m for m in full["messages"] if m["channel"] == "sms" and m["audience"] == "residents")
            assert sms["text"].startswith("【高平应急科普】") and sms["segments"] <= 2

            # The editor may not approve; the approver may.
            async with http.post(f"{base}/api/v1/drafts/{draft['id']}/approve",
                                 headers={"Authorization": f"Bearer {editor_token}"}) as r:
                assert r.status == 403
                assert "approve" in (await r.json())["error"]
            async with http.post(f"{base}/api/v1/drafts/{draft['id']}/approve",
                                 headers={"Authorization": f"Bearer {approver_token}"}) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["state"] in ("dispatching", "sent")

            async def sent() -> dict | None:
                async with http.get(f"{base}/api/v1/drafts/{draft['id']}",
                                    headers={"Authorization": f"Bearer {approver_token}"}) as r:
                    body = await r.json()
                    return body if body["state"] == "sent" else None

            await wait_for(sent)
            async with http.post(f"{base}/api/v1/drafts/{draft['id']}/approve",
                                 headers={"Authorization": f"Bearer {approver_token}"}) as r:
                assert r.status == 409
    finally:
        await background.stop(5)
        await runner.cleanup()
        await service.close()

    lines = [json.loads(x) for x in settings.path(settings.channels.log_file).read_text(encoding="utf-8").splitlines()]
    # Residents of 米山镇, 三甲镇, 神农镇 in the demo list: 4 numbers, one of whom asked for English
    # and gets the English text (the route yields it where the library has one).
    assert len(lines) == 4
    assert all(x["text"].startswith("【高平应急科普】") for x in lines)
    english = [x for x in lines if x["text"].isascii() or "rainstorm" in x["text"].lower()]
    assert len(english) == 1 and english[0]["to"].endswith("8005")
    assert all("****" in x["to"] for x in lines), "phone numbers are masked in the log channel's file"


def test_alerts_serve_starts_answers_health_and_stops_cleanly(config_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ, ALERTS_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}")
    proc = subprocess.Popen([sys.executable, "-m", "alerts", "serve", "--config", str(config_dir), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                import urllib.request

                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.3)
        assert status == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
