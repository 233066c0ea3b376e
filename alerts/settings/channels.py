"""config/channels.yaml: which channels are on, sender limits, retry, in-doubt policy and campaign rules."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from alerts.settings._base import Section

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class RetrySection(Section):
    """How long a delivery is tried again after temporary failures."""

    # A warning is retried for as long as it is in force: until its alert expires, and at most this
    # long after approval (for warnings without an end). Never a fixed count of attempts or crashes.
    warning_ceiling_hours: float = Field(6.0, gt=0, le=72)
    # Campaigns are not worth chasing: a short budget of attempts.
    campaign_max_attempts: int = Field(3, ge=1, le=20)
    base_delay_seconds: float = Field(2.0, gt=0)
    max_delay_seconds: float = Field(600.0, gt=0)


class FailoverSection(Section):
    """When new SMS move from one provider to the next (domestic providers, issue 15)."""

    # Share of undelivered receipts in the window above which a provider is left for the next one.
    undelivered_threshold: float = Field(0.15, gt=0, le=1)
    window_seconds: float = Field(300.0, ge=30)
    min_receipts: int = Field(20, ge=1)  # fewer receipts than this in the window say nothing yet
    # A failing API is retried this many times (a few seconds apart) before new sends move on.
    api_retries: int = Field(2, ge=0, le=5)
    retry_delay_seconds: float = Field(2.0, ge=0, le=20)
    # How long a provider that failed is left alone before it is tried again.
    down_seconds: float = Field(60.0, ge=5)


SmsProviderName = Literal["aliyun", "tencent", "twilio", "log"]
class PauseSection(Section):
    """An account-level provider fault (authentication, suspension, throttling, a full queue) pauses the
    channel or the sender, not the deliveries: they wait without spending attempts."""

    base_seconds: float = Field(1.0, gt=0)  # the first pause; doubled while faults repeat
    max_seconds: float = Field(300.0, gt=0)


class RobotPaceSection(Section):
    """One IM robot's limit as its service states it (DingTalk and WeCom: 20 messages a minute)."""

    messages: int = Field(20, ge=1)
    window_seconds: float = Field(60.0, gt=0)
    # Sent at once at most; the rest is spread so that no window ever holds more than `messages`.
    burst: int = Field(3, ge=1)

    @field_validator("burst")
    @classmethod
    def _burst(cls, value: int, info: ValidationInfo) -> int:
        messages = info.data.get("messages", 20)
        if value >= messages:
            raise ValueError(f"burst must be below messages ({messages}) so the window is never exceeded")
        return value


def _robots() -> dict[str, RobotPaceSection]:
    return {"dingtalk": RobotPaceSection(), "wecom": RobotPaceSection(),
            "feishu": RobotPaceSection(messages=100, burst=5)}


class SmsChannelSection(Section):
    # "auto": Twilio when its credentials are in the environment, otherwise the log channel.
    provider: Literal["auto", "twilio", "log", "aliyun", "tencent"] = "auto"
    # Ordered providers with failover (e.g. [aliyun, tencent, log]); when set, `provider` is not used.
    # ALERTS_SMS_PROVIDER (one name or a comma-separated list) overrides both.
    providers: list[SmsProviderName] = Field(default_factory=list)
    failover: FailoverSection = FailoverSection()
    # Token bucket per sender (each number of the pool, or the Messaging Service).
    messages_per_second: float = Field(100.0, gt=0)
    burst: int = Field(100, ge=1)
    # Provider requests in flight at once, over all senders.
    concurrency: int = Field(32, ge=1, le=1024)
    request_timeout_seconds: float = Field(15.0, gt=0, le=120)
    # Sender numbers (E.164); TWILIO_FROM may also hold a comma-separated list.
    sender_pool: list[str] = Field(default_factory=list)


VoiceProviderName = Literal["aliyun", "twilio", "log"]


class BroadcastSection(Section):
    """Village loudspeakers (村村响): a package per township of each approved warning, and where a
    township has a networked broadcast controller, the package posted to it."""

    # Render audio with the offline TTS engine (espeak-ng) when it is installed; else script only.
    audio: bool = True
    espeak: str = "espeak-ng"
    espeak_voice: str = "cmn"
    words_per_minute: int = Field(150, ge=80, le=300)
    # Township code -> the controller's URL (plain http allowed: these sit on the county's own network).
    controllers: dict[str, str] = Field(default_factory=dict)
    request_timeout_seconds: float = Field(30.0, gt=0, le=300)


class VoiceSection(Section):
    """Read-out calls (issue 17): who is called, how often, through which provider."""

    # Ordered providers; empty: no voice channel (叫应 escalation then falls through to SMS).
    # ALERTS_VOICE_PROVIDER (one name) overrides it.
    providers: list[VoiceProviderName] = Field(default_factory=list)
    # Residents flagged for calls are called for warnings at or above this level.
    min_level: Literal["blue", "yellow", "orange", "red"] = "orange"
    # A call nobody answered is placed again this many times, this far apart (Aliyun allows the same
    # callee one call a minute and five an hour).
    retries: int = Field(2, ge=0, le=4)
    retry_minutes: float = Field(3.0, ge=1, le=60)
    # Aliyun's plain voice notifications cannot always collect a key: count an answered call as the
    # acknowledgement (True), or only a pressed 1 (False).
    answered_acknowledges: bool = False
    concurrency: int = Field(8, ge=1, le=256)
    request_timeout_seconds: float = Field(15.0, gt=0, le=120)
    # Twilio places an account's outbound calls at 1 a second unless the account's limit was raised.
    twilio_calls_per_second: float = Field(1.0, gt=0, le=100)
    broadcast: BroadcastSection = BroadcastSection()


class OutboxSection(Section):
    # Deliveries marked in flight at once are at most sms.concurrency (the requests really in flight);
    # one claim takes at most this many.
    batch_size: int = Field(200, ge=1, le=5000)
    lease_seconds: float = Field(60.0, gt=0)
    poll_interval_seconds: float = Field(0.5, gt=0)
    # What to do with an in-doubt delivery (in flight when a worker died) whose provider cannot tell
    # whether it has it: send again (at-least-once) or fail it (at-most-once). Providers that keep a
    # record (Twilio) are asked first: found means sent, not found means send.
    in_doubt: Literal["resend", "fail"] = "resend"
    in_doubt_campaigns: Literal["resend", "fail"] = "fail"


class CampaignsSection(Section):
    """Rules for normal-time campaigns only; warnings never wait and are never capped."""

    # Local time window when campaign messages are held ("21:00-08:00"); empty: none.
    quiet_hours: str = "21:00-08:00"
    timezone: str = "Asia/Shanghai"
    # Campaign messages a resident receives at most in any 7 days (0: no cap).
    max_per_recipient_per_week: int = Field(2, ge=0)

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, value: str) -> str:
        value = value.strip()
        if value and not _WINDOW.match(value):
            raise ValueError("expected a local time window HH:MM-HH:MM, e.g. 21:00-08:00, or an empty string")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as Asia/Shanghai") from None
        return value


class ChannelsConfig(Section):
    sms: SmsChannelSection = SmsChannelSection()
    voice: VoiceSection = VoiceSection()
    outbox: OutboxSection = OutboxSection()
    retry: RetrySection = RetrySection()
    pause: PauseSection = PauseSection()
    # IM robots paced per robot (keyed by channel name: dingtalk, wecom, feishu).
    robots: dict[str, RobotPaceSection] = Field(default_factory=_robots)
    campaigns: CampaignsSection = CampaignsSection()
    log_file: str = "../var/outbox.log"

    @field_validator("robots")
    @classmethod
    def _robot_defaults(cls, value: dict[str, RobotPaceSection]) -> dict[str, RobotPaceSection]:
        # Naming one robot kind keeps the documented limits of the others.
        return {**_robots(), **value}
