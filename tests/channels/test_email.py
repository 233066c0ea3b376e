"""E-mail to organisation contacts through a real local SMTP server (aiosmtpd): both parts, and SMTP failures."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts.channels.base import Permanent, Retry
from alerts.channels.email import EmailChannel
from tests.channels.notices_support import approve_sample, delivery_rows, import_organisations, make_service


@dataclass
class Mailbox:
    """An SMTP server that keeps what it receives and refuses the addresses it is told to."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=default)
        self.messages.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def smtp_env(port: int) -> dict[str, str]:
    return {"ALERTS_SMTP_HOST": "127.0.0.1", "ALERTS_SMTP_PORT": str(port),
            "ALERTS_SMTP_FROM": "kepu@gaoping.example.cn"}


async def test_email_to_a_school_has_a_plain_text_and_an_html_part(
        config_dir: Path, database_url: str, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    service = await make_service(config_dir, database_url, **smtp_env(port))
    try:
        assert isinstance(service.channels["email"], EmailChannel)
        await import_organisations(service)
        await approve_sample(service)
        await service.worker.drain()
        [row] = await delivery_rows(service, "email")
        assert row.state == "sent" and row.address.startswith("contact:")
        assert "head@" not in row.address  # the ledger keeps the reference, not the address
    finally:
        await service.close()
    [(rcpt, msg)] = box.messages
    assert rcpt == ["head@mishan1.school.example.cn"]
    assert msg["Subject"] == "暴雨橙色预警 · 防御科普提示"
    assert "kepu@gaoping.example.cn" in msg["From"]
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert "各学校、幼儿园：" in plain.get_content() and "暴雨" in plain.get_content()
    assert "<html" in html.get_content() and "@page { size: A4" in html.get_content()
    assert row.provider_id and row.provider_id in msg["Message-ID"]


@pytest.mark.parametrize(("reply", "expected", "code"), [
    ("550 5.1.1 no such user here", Permanent, "smtp_550"),
    ("451 4.3.0 mailbox busy, try again later", Retry, "smtp_451"),
])
async def test_smtp_refusals_are_permanent_for_5xx_and_retried_for_4xx(
        config_dir: Path, tmp_path: Path, smtp: tuple[Mailbox, int], reply: str, expected: type, code: str) -> None:
    box, port = smtp
    box.refuse["head@mishan1.school.example.cn"] = reply
    service = await make_service(config_dir, f"sqlite:///{tmp_path / 'mail.db'}", **smtp_env(port))
    try:
        await import_organisations(service)
        await approve_sample(service)
        await service.worker.drain()
        [row] = await delivery_rows(service, "email")
        assert row.state == ("failed" if expected is Permanent else "queued")
        assert row.error_code == code
        assert "head@mishan1" not in row.error  # masked: h***@...
    finally:
        await service.close()
    assert box.messages == []


async def test_an_unreachable_smtp_server_is_retried(config_dir: Path, tmp_path: Path) -> None:
    service = await make_service(config_dir, f"sqlite:///{tmp_path / 'mail.db'}", **smtp_env(free_port()))
    try:
        await import_organisations(service)
        await approve_sample(service)
        await service.worker.drain()
        [row] = await delivery_rows(service, "email")
        assert row.state == "queued" and row.error_code == "network"
    finally:
        await service.close()


async def test_without_smtp_settings_email_goes_to_the_log_channel(config_dir: Path, tmp_path: Path) -> None:
    service = await make_service(config_dir, f"sqlite:///{tmp_path / 'mail.db'}")
    try:
        assert not isinstance(service.channels["email"], EmailChannel)
        assert service.channels["email"].name == "email"
    finally:
        await service.close()
