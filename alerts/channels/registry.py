"""Which channel object serves each delivery channel, chosen from config and the environment."""

from __future__ import annotations

import logging

from alerts.channels.base import Channel
from alerts.channels.log import LogChannel
from alerts.settings import ConfigError, Secrets, Settings

log = logging.getLogger("alerts.channels")


def build_channels(settings: Settings, *, secrets: Secrets | None = None, clock: object = None) -> dict[str, Channel]:
    """One channel per delivery channel name ("sms", ...). Other channels register below."""
    secrets = secrets or settings.secrets
    channels: dict[str, Channel] = {"sms": build_sms(settings, secrets, clock=clock)}
    # Organisation contacts: IM robots (wecom, dingtalk, feishu, webhook), email, printable notices.
    from alerts.channels.notice import build_notice_channels

    channels.update(build_notice_channels(settings, secrets))
    # Read-out calls, when a voice provider is configured (channels.yaml voice, ALERTS_VOICE_PROVIDER).
    from alerts.channels.voice.build import build_voice

    voice = build_voice(settings, secrets)
    if voice is not None:
        channels["voice"] = voice
    return channels


def sms_senders(settings: Settings, secrets: Secrets) -> list[str]:
    from_env = [s.strip() for s in (secrets.twilio_from or "").split(",") if s.strip()]
    return list(dict.fromkeys(from_env + list(settings.channels.sms.sender_pool)))


def sms_contacts(settings: Settings, secrets: Secrets) -> object | None:
    """Organisations' SMS contacts (safety officers, village heads) are stored encrypted."""
    from alerts.crypto import EncryptionKeyError, cipher_from
    from alerts.organisations import ContactBook

    try:
        return ContactBook(settings.database_url, cipher_from(secrets))
    except EncryptionKeyError as exc:
        raise ConfigError([str(exc)]) from None


def build_sms(settings: Settings, secrets: Secrets, *, clock: object = None) -> Channel:
    """The SMS channel: one provider, or an ordered list with failover (Aliyun, Tencent, Twilio, log)."""
    from alerts.channels.sms.build import build_provider_channel, selected_providers

    names = selected_providers(settings)
    if names == ["auto"]:
        return build_sms_single(settings, secrets, "auto")
    return build_provider_channel(settings, secrets, names, clock=clock)


def selected_providers(settings: Settings) -> list[str]:
    from alerts.channels.sms.build import selected_providers as selected

    return selected(settings)


def build_sms_single(settings: Settings, secrets: Secrets, wanted: str) -> Channel:
    """Twilio, the log channel, or "auto" (Twilio when its credentials are set, else the log channel)."""
    cfg = settings.channels.sms
    usable = secrets.twilio_enabled and bool(secrets.twilio_messaging_service_sid or sms_senders(settings, secrets))
    if wanted == "twilio" and not usable:
        raise ConfigError([
            f"{settings.config_dir / 'channels.yaml'}: sms: provider 'twilio' — set TWILIO_ACCOUNT_SID, "
            "TWILIO_AUTH_TOKEN and TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM in the environment, "
            "or use provider: auto"])
    if wanted == "log" or not usable:
        if wanted == "auto" and secrets.twilio_enabled:
            log.warning("Twilio credentials are set but no sender: set TWILIO_MESSAGING_SERVICE_SID or "
                        "TWILIO_FROM; SMS go to the log channel meanwhile")
        return LogChannel(settings.path(settings.channels.log_file), name="sms",
                          signature=settings.service.sms.signature, contacts=sms_contacts(settings, secrets))
    from alerts.channels.twilio_sms import TwilioSmsChannel

    assert secrets.twilio_account_sid and secrets.twilio_auth_token
    try:
        return TwilioSmsChannel(
            account_sid=secrets.twilio_account_sid, auth_token=secrets.twilio_auth_token,
            messaging_service_sid=secrets.twilio_messaging_service_sid, senders=sms_senders(settings, secrets),
            status_callback_base=settings.service.http.public_base_url, api_base_url=secrets.twilio_api_base_url,
            messages_per_second=cfg.messages_per_second, burst=cfg.burst, concurrency=cfg.concurrency,
            timeout=cfg.request_timeout_seconds, signature=settings.service.sms.signature,
            contacts=sms_contacts(settings, secrets))
    except ValueError as exc:
        raise ConfigError([str(exc)]) from None
