"""Building the SMS channel from config and the environment: which providers, their credentials."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from alerts.channels.base import Channel
from alerts.channels.sms.templates import DOMESTIC, FILE, RegistryError, load_registry
from alerts.settings import ConfigError, Secrets, Settings

KNOWN = ("aliyun", "tencent", "twilio", "log")
CREDENTIALS = {
    "aliyun": ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    "tencent": ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"),
}


def selected_providers(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """The ordered providers: ALERTS_SMS_PROVIDER, else channels.yaml sms.providers, else sms.provider.
    ["auto"] keeps the behaviour from before: Twilio with its credentials, else the log channel."""
    env = os.environ if env is None else env
    raw = (env.get("ALERTS_SMS_PROVIDER") or "").strip()
    if raw:
        names = [n.strip().lower() for n in raw.split(",") if n.strip()]
        bad = [n for n in names if n not in (*KNOWN, "auto")]
        if bad or ("auto" in names and len(names) > 1):
            raise ConfigError([f"ALERTS_SMS_PROVIDER: {raw!r} — expected auto, or one or more of "
                               f"{', '.join(KNOWN)} separated by commas (e.g. aliyun,tencent,log)"])
        return list(dict.fromkeys(names))
    cfg = settings.channels.sms
    if cfg.providers:
        return list(dict.fromkeys(cfg.providers))
    return [cfg.provider]


def uses_domestic(settings: Settings, env: Mapping[str, str] | None = None) -> bool:
    return any(p in DOMESTIC for p in selected_providers(settings, env))


def build_provider_channel(settings: Settings, secrets: Secrets, names: list[str], *,
                           env: Mapping[str, str] | None = None, clock: Any = None) -> Channel:
    """The SMS channel over `names` (no "auto"). Only the selected providers' credentials are needed."""
    from alerts.channels.registry import build_sms_single, sms_contacts
    from alerts.channels.sms.base import MessageBook
    from alerts.channels.sms.channel import FreeText, SmsChannel

    env = os.environ if env is None else env
    where = settings.config_dir / "channels.yaml"
    missing = [f"{where}: sms: provider {name} is selected but {' and '.join(CREDENTIALS[name])} are not set in "
               "the environment — set them, or choose other providers (ALERTS_SMS_PROVIDER)"
               for name in names if name in CREDENTIALS and not all(env.get(v) for v in CREDENTIALS[name])]
    if missing:
        raise ConfigError(missing)
    registry = None
    if any(n in DOMESTIC for n in names):
        try:
            registry = load_registry(settings.config_dir / FILE)
        except RegistryError as exc:
            raise ConfigError(exc.lines) from None
        absent = [f"{settings.config_dir / FILE}: {n}: missing — its signature, and the template codes, must be "
                  "registered before SMS can go through it" for n in names
                  if n in DOMESTIC and n not in registry.accounts]
        if absent:
            raise ConfigError(absent)
    if len(names) == 1 and names[0] not in DOMESTIC:
        return build_sms_single(settings, secrets, names[0])
    cfg = settings.channels.sms
    providers: list[Any] = []
    for name in names:
        if name == "aliyun":
            from alerts.channels.sms.aliyun import AliyunClient, AliyunProvider

            assert registry is not None
            try:
                client = AliyunClient(access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                      access_key_secret=env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                                      endpoint=env.get("ALERTS_ALIYUN_SMS_ENDPOINT"),
                                      timeout=cfg.request_timeout_seconds)
            except ValueError as exc:
                raise ConfigError([str(exc)]) from None
            providers.append(AliyunProvider(client, registry.accounts["aliyun"], concurrency=cfg.concurrency))
        elif name == "tencent":
            from alerts.channels.sms.tencent import TencentClient, TencentProvider

            assert registry is not None
            account = registry.accounts["tencent"]
            if not account.sdk_app_id:
                raise ConfigError([f"{settings.config_dir / FILE}: tencent.sdk_app_id: missing — the SmsSdkAppId "
                                   "of the application in the Tencent Cloud SMS console"])
            try:
                tclient = TencentClient(secret_id=env["TENCENTCLOUD_SECRET_ID"],
                                        secret_key=env["TENCENTCLOUD_SECRET_KEY"],
                                        endpoint=env.get("ALERTS_TENCENT_SMS_ENDPOINT"), region=account.region,
                                        sdk_app_id=account.sdk_app_id, timeout=cfg.request_timeout_seconds)
            except ValueError as exc:
                raise ConfigError([str(exc)]) from None
            providers.append(TencentProvider(tclient, account, concurrency=cfg.concurrency))
        else:
            providers.append(FreeText(name, build_sms_single(settings, secrets, name), concurrency=cfg.concurrency))
    return SmsChannel(providers, registry or load_registry(settings.config_dir / FILE),
                      MessageBook(settings.database_url), failover=cfg.failover, clock=clock,
                      contacts=sms_contacts(settings, secrets))
