"""The log channel (the default without credentials): what would be sent, with the number masked."""

from __future__ import annotations

import json
from pathlib import Path

from alerts.channels.base import Ok, Outbound, Permanent, Retry, send_timed
from alerts.channels.log import LogChannel


def outbound(address: str, text: str = "注意防范暴雨") -> Outbound:
    return Outbound(delivery_id=7, message_id=3, draft_id=2, channel="sms", address=address, text=text)


async def test_it_writes_the_signed_text_and_a_masked_number(tmp_path: Path) -> None:
    channel = LogChannel(tmp_path / "outbox.log", signature="【高平应急科普】")
    assert isinstance(await channel.send(outbound("+8613800138000")), Ok)
    assert isinstance(await channel.send(outbound("+8613800138001", "【高平应急科普】已签名")), Ok)
    first, second = [json.loads(x) for x in (tmp_path / "outbox.log").read_text(encoding="utf-8").splitlines()]
    assert first["to"] == "+86 138****8000" and first["text"] == "【高平应急科普】注意防范暴雨"
    assert second["text"] == "【高平应急科普】已签名", "the signature is added once"
    assert "13800138000" not in (tmp_path / "outbox.log").read_text(encoding="utf-8")


async def test_an_organisation_contact_without_a_contact_book_fails_permanently(tmp_path: Path) -> None:
    outcome = await LogChannel(tmp_path / "outbox.log").send(outbound("contact:12"))
    assert isinstance(outcome, Permanent) and outcome.code == "contact"


async def test_a_channel_that_raises_becomes_a_retry_never_a_crash() -> None:
    class Broken:
        name = "sms"

        async def send(self, item: Outbound) -> Ok:
            raise RuntimeError("bug")

        async def close(self) -> None:
            return None

    timed = await send_timed(Broken(), outbound("+8613800138000"))
    assert isinstance(timed.outcome, Retry) and "RuntimeError" in timed.outcome.reason
