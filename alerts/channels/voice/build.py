"""Building the voice channel from config and the environment (None: no voice channel)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from alerts.channels.base import Channel
from alerts.settings import ConfigError, Secrets, Settings

CREDENTIALS = {
    "aliyun": ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"),
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
}


def selected_provider(settings: Settings, env: Mapping[str, str] | None = None) -> str | None:
    """ALERTS_VOICE_PROVIDER, else the first of channels.yaml voice.providers; None: voice is off."""
    env = os.environ if env is None else env
    raw = (env.get("ALERTS_VOICE_PROVIDER") or "").strip().lower()
    if raw:
        if raw not in ("aliyun", "twilio", "log", "none"):
            raise ConfigError([f"ALERTS_VOICE_PROVIDER: {raw!r} — expected aliyun, twilio, log or none"])
        return None if raw == "none" else raw
    providers = settings.channels.voice.providers
    return providers[0] if providers else None


def configuration_problems(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """What keeps the selected voice provider from working (for `alerts check` and at start)."""
    env = os.environ if env is None else env
    try:
        name = selected_provider(settings, env)
    except ConfigError as exc:
        return exc.lines if hasattr(exc, "lines") else [str(exc)]
    where = settings.config_dir / "channels.yaml"
    problems = []
    secrets = settings.secrets
    if name == "twilio" and secrets.twilio_account_sid and secrets.twilio_auth_token:
        pass  # Twilio's keys are the service's secrets (the same as for SMS)
    elif name in CREDENTIALS and not all(env.get(v) for v in CREDENTIALS[name]):
        problems.append(f"{where}: voice: provider {name} is selected but {' and '.join(CREDENTIALS[name])} are "
                        "not set in the environment — set them, or choose another provider (ALERTS_VOICE_PROVIDER)")
    if name == "twilio" and not (env.get("TWILIO_VOICE_FROM") or secrets.twilio_from or env.get("TWILIO_FROM")):
        problems.append(f"{where}: voice: provider twilio needs a caller number: set TWILIO_VOICE_FROM "
                        "(or TWILIO_FROM) in the environment")
    if name == "aliyun":
        from alerts.channels.voice.registry import FILE, VoiceRegistryError, load_voice_registry

        try:
            registry = load_voice_registry(settings.config_dir / FILE)
        except VoiceRegistryError as exc:
            return problems + exc.lines
        if registry.aliyun is None:
            problems.append(f"{settings.config_dir / FILE}: aliyun: missing — register the TTS templates with "
                            "Alibaba Cloud voice and record their codes before calling through it")
    return problems


def build_voice(settings: Settings, secrets: Secrets, env: Mapping[str, str] | None = None) -> Channel | None:
    env = os.environ if env is None else env
    name = selected_provider(settings, env)
    if name is None:
        return None
    problems = configuration_problems(settings, env)
    if problems:
        raise ConfigError(problems)
    cfg = settings.channels.voice
    if name == "log":
        from alerts.channels.log import LogChannel

        return LogChannel(settings.path(settings.channels.log_file), name="voice")
    from alerts.channels.registry import sms_contacts
    from alerts.channels.sms.base import MessageBook
    from alerts.channels.voice.channel import VoiceChannel
    from alerts.channels.voice.registry import FILE, load_voice_registry

    registry = load_voice_registry(settings.config_dir / FILE)
    provider: object
    try:
        if name == "aliyun":
            from alerts.channels.voice.aliyun import AliyunVoiceClient, AliyunVoiceProvider

            assert registry.aliyun is not None
            client = AliyunVoiceClient(access_key_id=env["ALIBABA_CLOUD_ACCESS_KEY_ID"],
                                       access_key_secret=env["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
                                       endpoint=env.get("ALERTS_ALIYUN_VOICE_ENDPOINT"),
                                       timeout=cfg.request_timeout_seconds)
            provider = AliyunVoiceProvider(client, registry.aliyun)
        else:
            from alerts.channels.voice.twilio_voice import TwilioVoiceProvider

            caller = (env.get("TWILIO_VOICE_FROM") or secrets.twilio_from or env.get("TWILIO_FROM") or "")
            provider = TwilioVoiceProvider(
                account_sid=secrets.twilio_account_sid or env["TWILIO_ACCOUNT_SID"],
                auth_token=secrets.twilio_auth_token or env["TWILIO_AUTH_TOKEN"], caller=caller.split(",")[0].strip(),
                public_base_url=settings.service.http.public_base_url,
                api_base_url=secrets.twilio_api_base_url, timeout=cfg.request_timeout_seconds,
                concurrency=cfg.concurrency)
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
    if name == "twilio":
        from alerts.channels.voice.channel import TwilioVoiceChannel

        return TwilioVoiceChannel(provider, registry, MessageBook(settings.database_url),  # type: ignore[arg-type]
                                  calls_per_second=cfg.twilio_calls_per_second,
                                  contacts=sms_contacts(settings, secrets), concurrency=cfg.concurrency)
    return VoiceChannel(provider, registry, MessageBook(settings.database_url),  # type: ignore[arg-type]
                        contacts=sms_contacts(settings, secrets), concurrency=cfg.concurrency)
