"""Twilio webhooks over real HTTP: signatures checked, receipts only move forward, STOP/退订/START/HELP."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from alerts.app import Service
from alerts.clock import ManualClock
from alerts.settings import load_settings
from alerts.store import deliveries as store
from alerts.store.migrate import upgrade
from alerts.store.tables import audit_log, deliveries, residents
from alerts.web.app import make_app
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID
from tests.outbox.helpers import add_residents, approved_draft, phone

START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)
PUBLIC = "https://alerts.gaoping.example.cn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hooks:
    def __init__(self, service: Service, base: str, http: aiohttp.ClientSession):
        self.service = service
        self.base = base
        self.http = http
        self.inbound = 0

    async def post(self, path_qs: str, form: dict[str, str], *, sign: str | None = "ok") -> aiohttp.ClientResponse:
        if path_qs.startswith("/hooks/twilio/inbound") and "MessageSid" not in form:
            # Twilio gives every inbound message its own id; a repeated id is a replay.
            self.inbound += 1
            form = {**form, "MessageSid": f"SM{self.inbound:032x}"}
        headers = {}
        if sign == "ok":
            headers["X-Twilio-Signature"] = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + path_qs, form)
        elif sign is not None:
            headers["X-Twilio-Signature"] = sign
        resp = await self.http.post(self.base + path_qs, data=form, headers=headers)
        await resp.read()
        return resp

    async def delivery(self, address: str) -> Any:
        async with self.service.db.read() as conn:
            return (await conn.execute(select(deliveries).where(deliveries.c.address == address))).one()


@pytest.fixture
async def hooks(config_dir: Path, database_url: str) -> AsyncIterator[Hooks]:
    service_yaml = config_dir / "service.yaml"
    service_yaml.write_text(service_yaml.read_text(encoding="utf-8").replace(
        "public_base_url: http://127.0.0.1:8080", f"public_base_url: {PUBLIC}"), encoding="utf-8")
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                                              "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                                              "TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID})
    service = Service(settings, clock=ManualClock(START))
    await upgrade(service.db)
    async with service.db.write() as conn:
        await add_residents(conn, 3, at=START)
        await approved_draft(conn, at=START)
    runner = web.AppRunner(make_app(service))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Hooks(service, f"http://127.0.0.1:{port}", http)
    finally:
        await runner.cleanup()
        await service.close()


async def mark_sent(hooks: Hooks, address: str, sid: str) -> int:
    """Record a delivery as sent by the provider, as the worker does."""
    async with hooks.service.db.write() as conn:
        claimed = await store.claim(conn, owner="w", now=START, lease_seconds=60, limit=10)
        item = next(c for c in claimed if c.address == address)
        await store.finish_many(conn, [store.Finished(c.id, "queued") for c in claimed if c is not item]
                                + [store.Finished(item.id, "sent", provider_id=sid, provider_status="accepted")],
                                owner="w", now=START)
    return item.id


async def test_unsigned_or_wrongly_signed_callbacks_are_refused(hooks: Hooks) -> None:
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert (await hooks.post("/hooks/twilio/status?d=1", form, sign=None)).status == 403
    assert (await hooks.post("/hooks/twilio/status?d=1", form, sign="bm90IGEgc2lnbmF0dXJl")).status == 403
    assert (await hooks.post("/hooks/twilio/inbound", {"From": phone(0), "Body": "STOP"}, sign="x")).status == 403
    async with hooks.service.db.read() as conn:
        assert {r.status for r in await conn.execute(select(residents))} == {"active"}


async def test_status_callbacks_move_a_delivery_forward_only(hooks: Hooks) -> None:
    delivery_id = await mark_sent(hooks, phone(0), "SMaaa")
    path = f"/hooks/twilio/status?d={delivery_id}"
    assert (await hooks.post(path, {"MessageSid": "SMaaa", "MessageStatus": "sent"})).status == 200
    assert (await hooks.delivery(phone(0))).provider_status == "sent"
    assert (await hooks.post(path, {"MessageSid": "SMaaa", "MessageStatus": "delivered"})).status == 200
    # Duplicates and late, older statuses change nothing.
    for status in ("delivered", "sent", "queued", "undelivered"):
        assert (await hooks.post(path, {"MessageSid": "SMaaa", "MessageStatus": status})).status == 200
    row = await hooks.delivery(phone(0))
    assert (row.state, row.provider_status) == ("delivered", "delivered")


async def test_an_undelivered_callback_fails_the_delivery_with_the_carrier_code(hooks: Hooks) -> None:
    await mark_sent(hooks, phone(1), "SMbbb")
    # Found by its message id alone, too.
    # 30005: unknown destination handset; sending again cannot help (30003, unreachable, would queue it again).
    resp = await hooks.post("/hooks/twilio/status", {"MessageSid": "SMbbb", "MessageStatus": "undelivered",
                                                     "ErrorCode": "30005"})
    assert resp.status == 200
    row = await hooks.delivery(phone(1))
    assert (row.state, row.error_code) == ("failed", "30005") and "30005" in row.error


async def test_a_callback_that_beats_the_workers_record_is_kept(hooks: Hooks) -> None:
    async with hooks.service.db.write() as conn:
        claimed = await store.claim(conn, owner="w", now=START, lease_seconds=60, limit=10)
    item = next(c for c in claimed if c.address == phone(2))
    path = f"/hooks/twilio/status?d={item.id}"
    assert (await hooks.post(path, {"MessageSid": "SMccc", "MessageStatus": "delivered"})).status == 200
    async with hooks.service.db.write() as conn:
        await store.finish_many(conn, [store.Finished(c.id, "sent", provider_id=f"SM{c.id}", provider_status="accepted")
                                       if c is not item else
                                       store.Finished(c.id, "sent", provider_id="SMccc", provider_status="accepted")
                                       for c in claimed], owner="w", now=START)
    row = await hooks.delivery(phone(2))
    assert (row.state, row.provider_status, row.provider_id) == ("delivered", "delivered", "SMccc")


async def test_stop_and_tuiding_opt_out_start_opts_back_in_help_answers(hooks: Hooks) -> None:
    async def status(number: str) -> str:
        async with hooks.service.db.read() as conn:
            return str((await conn.execute(select(residents.c.status).where(residents.c.phone == number))).scalar())

    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(0), "Body": " stop "})
    assert resp.status == 200 and resp.content_type == "application/xml"
    assert await status(phone(0)) == "opted_out"
    assert (await hooks.delivery(phone(0))).state == "suppressed", "nothing queued goes to someone who opted out"

    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(1), "Body": "退订"})
    assert "已退订" in await resp.text() and await status(phone(1)) == "opted_out"
    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(1), "Body": "TD"})
    assert await status(phone(1)) == "opted_out"

    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(1), "Body": "订阅"})
    assert "恢复订阅" in await resp.text() and await status(phone(1)) == "active"
    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(0), "Body": "START"})
    assert await status(phone(0)) == "active"

    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(2), "Body": "帮助"})
    text = await resp.text()
    assert "<Message>" in text and "退订" in text and hooks.service.settings.service.name in text
    assert await status(phone(2)) == "active"

    async with hooks.service.db.read() as conn:
        entries = [(r.action, r.target) for r in await conn.execute(select(audit_log).order_by(audit_log.c.id))]
    changes = [e for e in entries if e[0].startswith("recipient.")]
    assert [a for a, _ in changes] == ["recipient.opted_out", "recipient.opted_out", "recipient.opted_out",
                                       "recipient.opted_in", "recipient.opted_in"]
    assert all("****" in t for _, t in changes), "phone numbers are masked in the audit log"
