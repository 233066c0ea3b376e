"""Support for the domestic SMS tests: the shipped registry, local provider servers, messages, channels."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.channels.base import Outbound
from alerts.channels.sms.aliyun import AliyunClient, AliyunProvider
from alerts.channels.sms.base import MessageBook
from alerts.channels.sms.channel import SmsChannel
from alerts.channels.sms.templates import SmsRegistry, load_registry
from alerts.channels.sms.tencent import TencentClient, TencentProvider
from alerts.clock import ManualClock
from alerts.settings.channels import FailoverSection
from alerts.store import drafts as draft_store
from tests.channels import aliyun_server, tencent_server

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "rainstorm.orange.residents.sms"
PARAMS = {"issuer": "高平市气象台", "issued": "12日10时", "event": "暴雨", "level_name": "橙色", "areas": "高平市",
          "in_force": "解除时另行通知"}
START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)


def registry() -> SmsRegistry:
    return load_registry(ROOT / "config" / "sms_providers.yaml")


def aliyun_fake(reg: SmsRegistry, **kwargs: Any) -> aliyun_server.AliyunServer:
    account = reg.accounts["aliyun"]
    return aliyun_server.AliyunServer(account.sign_name, registered_texts(account), **kwargs)


def tencent_fake(reg: SmsRegistry, **kwargs: Any) -> tencent_server.TencentServer:
    account = reg.accounts["tencent"]
    # The fake enforces the variable length the account has been approved for, as Tencent does.
    kwargs.setdefault("max_variable", account.variable_max_chars)
    return tencent_server.TencentServer(account.sign_name, registered_texts(account), **kwargs)


def registered_texts(account: Any) -> dict[str, str]:
    """code → wording of everything the account has registered: residents' templates and event skeletons."""
    return {r.code: r.text for r in [*account.templates.values(), *account.events.values()]}


FAKES = {"aliyun": aliyun_fake, "tencent": tencent_fake}


def aliyun_provider(reg: SmsRegistry, url: str, *, timeout: float = 5.0) -> AliyunProvider:
    client = AliyunClient(access_key_id=aliyun_server.ACCESS_KEY_ID, access_key_secret=aliyun_server.ACCESS_KEY_SECRET,
                          endpoint=url, timeout=timeout)
    return AliyunProvider(client, reg.accounts["aliyun"])


def tencent_provider(reg: SmsRegistry, url: str, *, timeout: float = 5.0) -> TencentProvider:
    account = reg.accounts["tencent"]
    account.sdk_app_id = tencent_server.APP_ID
    client = TencentClient(secret_id=tencent_server.SECRET_ID, secret_key=tencent_server.SECRET_KEY, endpoint=url,
                           region="ap-guangzhou", sdk_app_id=account.sdk_app_id, timeout=timeout)
    return TencentProvider(client, account)


def channel(providers: list[Any], reg: SmsRegistry, db: Any, **failover: Any) -> SmsChannel:
    settings = {"api_retries": 1, "retry_delay_seconds": 0.05, "down_seconds": 5, **failover}
    return SmsChannel(providers, reg, MessageBook(db), failover=FailoverSection.model_validate(settings),
                      clock=ManualClock(START))


def text_of(reg: SmsRegistry, template_id: str = TEMPLATE, params: dict[str, str] | None = None) -> str:
    registered = reg.get("aliyun", template_id)
    assert registered is not None
    return registered.fill(params or PARAMS)


async def message(db: Any, reg: SmsRegistry, *, template_id: str = TEMPLATE, params: dict[str, str] | None = None,
                  text: str | None = None) -> int:
    """A pending draft with one residents' SMS of `template_id`; returns the message id."""
    params = dict(params or PARAMS)
    item = draft_store.NewMessage(route="test", template_id=template_id, template_hash="h", template_reviewed=True,
                                  audience="residents", channel="sms", language="zh-CN", areas=["140581001"],
                                  text=text if text is not None else text_of(reg, template_id, params), params=params)
    async with db.write() as conn:
        draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level="orange",
                                            group_key="chain:1", exercise=False, created_by="test", at=START,
                                            expires_at=None, items=[item])
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    return int(record.messages[0].id)


def items(message_id: int, phones: list[str], *, first_id: int = 1, text: str = "") -> list[Outbound]:
    return [Outbound(delivery_id=first_id + i, message_id=message_id, draft_id=1, channel="sms", address=p, text=text)
            for i, p in enumerate(phones)]


def phones(count: int, start: int = 0) -> list[str]:
    return [f"+86139{i:08d}" for i in range(start, start + count)]


@contextlib.asynccontextmanager
async def provider_selected(name: str, monkeypatch: Any, config_dir: Path, token: str) -> AsyncIterator[Any]:
    """A local Aliyun or Tencent server answering as the provider does, and the environment of a service
    that sends through it (ALERTS_SMS_PROVIDER, its credentials and endpoint, the receipt token; no
    Twilio); yields the server."""
    reg = registry()
    if name == "aliyun":
        server: Any = aliyun_fake(reg)
        runner, url = await aliyun_server.start(server)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", aliyun_server.ACCESS_KEY_ID)
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", aliyun_server.ACCESS_KEY_SECRET)
        monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        monkeypatch.setenv("ALERTS_ALIYUN_SMS_ENDPOINT", url)
    else:
        server = tencent_fake(reg)
        runner, url = await tencent_server.start(server)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", tencent_server.SECRET_ID)
        monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", tencent_server.SECRET_KEY)
        monkeypatch.setenv("ALERTS_TENCENT_SMS_ENDPOINT", url)
        path = config_dir / "sms_providers.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace('sdk_app_id: "1400000000"',
                                                                 f'sdk_app_id: "{tencent_server.APP_ID}"'),
                        encoding="utf-8")
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", name)
    monkeypatch.setenv("ALERTS_SMS_CALLBACK_TOKEN", token)
    # Only the selected provider's credentials are set: no Twilio.
    for var in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    try:
        yield server
    finally:
        await runner.cleanup()
