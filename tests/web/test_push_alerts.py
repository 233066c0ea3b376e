"""POST /api/v1/alerts on the real app over 127.0.0.1: bearer tokens, 202 with drafts, rejections kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from alerts.app import Service
from alerts.clock import Clock
from alerts.settings import load_settings
from alerts.store import drafts as draft_store
from alerts.store import users as user_store
from alerts.store.tables import alerts, raw_inputs
from alerts.web.app import make_app

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"
ALERT = (DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_bytes()
CANCEL = (DATA / "constructed-gaoping-rainstorm-orange-cancel.cap12.xml").read_bytes()


@dataclass
class Running:
    base: str
    service: Service
    source_token: str
    editor_token: str


@pytest.fixture
async def running(config_dir: Path, database: Any) -> AsyncIterator[Running]:
    service = Service(load_settings(config_dir, env={}), clock=Clock(), db=database)
    now = service.clock.now()
    async with service.db.write() as conn:
        source = await user_store.add(conn, "cma.jincheng", ["source"], "source-password-1", at=now)
        editor = await user_store.add(conn, "li.editor", ["editor"], "editor-password-1", at=now)
        source_token = await user_store.create_token(conn, source, "push", at=now)
        editor_token = await user_store.create_token(conn, editor, "api", at=now)
    runner = web.AppRunner(make_app(service))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Running(f"http://127.0.0.1:{port}", service, source_token, editor_token)
    finally:
        await runner.cleanup()
        for channel in service.channels.values():
            await channel.close()


async def push(running: Running, body: bytes, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/cap+xml"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, \
            http.post(f"{running.base}/api/v1/alerts", data=body, headers=headers) as r:
        return r.status, await r.json()


async def test_a_pushed_alert_is_stored_and_drafted(running: Running) -> None:
    status, body = await push(running, ALERT, running.source_token)
    assert status == 202, body
    assert isinstance(body["alert_id"], int) and body["duplicate"] is False
    [draft_id] = body["drafts"]
    async with running.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        stored = (await conn.execute(select(alerts).where(alerts.c.id == body["alert_id"]))).one()
        raw = (await conn.execute(select(raw_inputs).where(raw_inputs.c.alert_id == body["alert_id"]))).one()
    assert record is not None and record.row.alert_id == body["alert_id"] and record.state == "pending"
    assert stored.identifier == "14058141600000_20260712053000" and stored.level == "orange"
    assert raw.source == "push:cma.jincheng" and raw.content == ALERT

    again_status, again = await push(running, ALERT, running.source_token)
    assert again_status == 202 and again["duplicate"] is True and again["drafts"] == []
    assert again["alert_id"] == body["alert_id"]

    cancel_status, cancel = await push(running, CANCEL, running.source_token)
    assert cancel_status == 202 and cancel["withdrawn"] == [draft_id]


async def test_without_a_valid_token_the_answer_is_401(running: Running) -> None:
    status, body = await push(running, ALERT, None)
    assert status == 401 and "bearer token" in body["error"]
    status, body = await push(running, ALERT, "alt_not-a-real-token")
    assert status == 401 and "unknown" in body["error"]
    async with running.service.db.read() as conn:
        assert list(await conn.execute(select(raw_inputs))) == []


async def test_a_user_without_push_alerts_gets_403(running: Running) -> None:
    status, body = await push(running, ALERT, running.editor_token)
    assert status == 403 and "push_alerts" in body["error"] and "li.editor" in body["error"]


async def test_a_rejected_document_gets_a_clear_error_and_is_kept(running: Running) -> None:
    xee = (DATA / "google-xee.cap").read_bytes()
    status, body = await push(running, xee, running.source_token)
    assert status == 422
    assert body["error"].startswith("rejected: document type declarations")
    raw_id = int(body["error"].rsplit("raw input ", 1)[1].rstrip(")"))
    async with running.service.db.read() as conn:
        raw = (await conn.execute(select(raw_inputs).where(raw_inputs.c.id == raw_id))).one()
        stored_alerts = list(await conn.execute(select(alerts)))
    assert raw.outcome == "rejected" and "DOCTYPE" in raw.reason and raw.content == xee
    assert raw.source == "push:cma.jincheng" and stored_alerts == []


async def test_an_empty_body_is_refused_with_a_reason(running: Running) -> None:
    status, body = await push(running, b"   ", running.source_token)
    assert status == 400 and "empty" in body["error"]


# Large bodies arrive in many chunks: the whole document must be read, and the limit enforced.


async def test_an_oversized_body_is_refused_with_413(running: Running) -> None:
    limit = running.service.settings.feeds.max_document_bytes
    status, body = await push(running, b"<alert>" + b" " * limit + b"</alert>", running.source_token)
    assert status == 413 and "max_document_bytes" in body["error"]


async def test_a_large_valid_document_arriving_in_many_chunks_is_read_whole(running: Running) -> None:
    padding = "山区注意防范山洪和滑坡。".encode() * 25000  # about 900 kB, under the 1 MB limit
    big = ALERT.replace("局地伴有雷电和短时大风".encode(), "局地伴有雷电和短时大风".encode() + padding)
    assert 800_000 < len(big) < running.service.settings.feeds.max_document_bytes
    status, body = await push(running, big, running.source_token)
    assert status == 202, body
