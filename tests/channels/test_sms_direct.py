"""Direct SMS without a message row (task notices, 叫应): a domestic provider sends the template and values the
Outbound carries, only when the text is that registered wording filled in; Twilio or the log channel send the text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.base import Ok, Outbound, Permanent
from alerts.channels.log import LogChannel
from alerts.channels.sms.channel import FreeText
from tests.channels import aliyun_server, tencent_server
from tests.channels.sms_support import (
    aliyun_fake,
    aliyun_provider,
    channel,
    registry,
    tencent_fake,
    tencent_provider,
)

PHONE = "+8613900001001"
CALLOUT = {"issuer": "高平市气象台", "event": "暴雨红色预警", "areas": "米山镇、三甲镇", "unit": "米山镇东周村"}


@pytest.fixture(autouse=True)
def _no_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")


@pytest.fixture(params=["aliyun", "tencent"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any, str]]:
    reg = registry()
    server: Any = aliyun_fake(reg) if request.param == "aliyun" else tencent_fake(reg)
    runner, url = await (aliyun_server.start(server) if request.param == "aliyun" else tencent_server.start(server))
    try:
        yield request.param, server, url
    finally:
        await runner.cleanup()


def _direct(text: str, template_id: str = "", params: dict[str, str] | None = None) -> Outbound:
    return Outbound(delivery_id=0, message_id=0, draft_id=0, channel="sms", address=PHONE, text=text,
                    title="叫应", template_id=template_id, params=params)


async def test_a_direct_sms_goes_out_as_its_registered_template_or_not_at_all(
        fake: tuple[str, Any, str], database: Any) -> None:
    name, server, url = fake
    reg = registry()
    registered = reg.get(name, "callout.callout")
    assert registered is not None
    provider = aliyun_provider(reg, url) if name == "aliyun" else tencent_provider(reg, url)
    sms = channel([provider], reg, database)
    text = registered.fill(CALLOUT)
    try:
        ok = await sms.send(_direct(text, "callout.callout", CALLOUT))
        assert isinstance(ok, Ok) and ok.provider_id.startswith(f"{name}:")
        [sent] = server.sent
        assert (sent.code if name == "aliyun" else sent.template) == registered.code and sent.content == text

        bare = await sms.send(_direct(text))
        assert isinstance(bare, Permanent) and bare.code == "unregistered"
        assert "names no registered template" in bare.reason
        other = await sms.send(_direct(text + "请转告。", "callout.callout", CALLOUT))
        assert isinstance(other, Permanent) and f"not {name}'s registered wording of callout.callout" in other.reason
        unknown = await sms.send(_direct(text, "callout.nobody", CALLOUT))
        assert isinstance(unknown, Permanent) and f"callout.nobody has no registered {name} code" in unknown.reason
        long_unit = {**CALLOUT, "unit": "某" * 40}
        too_long = await sms.send(_direct(registered.fill(long_unit), "callout.callout", long_unit))
        assert isinstance(too_long, Permanent) and "variable unit is 40 characters" in too_long.reason
        assert len(server.sent) == 1, "nothing else reached the provider"
    finally:
        await sms.close()


async def test_a_text_channel_behind_the_provider_takes_the_text(fake: tuple[str, Any, str], database: Any,
                                                                  tmp_path: Path) -> None:
    name, server, url = fake
    reg = registry()
    provider = aliyun_provider(reg, url) if name == "aliyun" else tencent_provider(reg, url)
    log = LogChannel(tmp_path / "outbox.log", name="sms", signature="【高平应急科普】")
    sms = channel([provider, FreeText("log", log)], reg, database)
    try:
        outcome = await sms.send(_direct("一条未登记的提醒"))
        assert isinstance(outcome, Ok) and not server.sent
        assert "一条未登记的提醒" in (tmp_path / "outbox.log").read_text(encoding="utf-8")
    finally:
        await sms.close()
