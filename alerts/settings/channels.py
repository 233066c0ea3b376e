"""config/channels.yaml: which channels are on, sender limits, retry and in-doubt policy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alerts.settings._base import Section


class RetrySection(Section):
    max_attempts: int = Field(8, ge=1)
    base_delay_seconds: float = Field(2.0, gt=0)
    max_delay_seconds: float = Field(600.0, gt=0)


class SmsChannelSection(Section):
    # "auto": Twilio when its credentials are in the environment, otherwise the log channel.
    provider: Literal["auto", "twilio", "log"] = "auto"
    messages_per_second: float = Field(100.0, gt=0)
    burst: int = Field(100, ge=1)
    concurrency: int = Field(32, ge=1, le=1024)
    sender_pool: list[str] = Field(default_factory=list)


class OutboxSection(Section):
    batch_size: int = Field(200, ge=1)
    lease_seconds: float = Field(60.0, gt=0)
    poll_interval_seconds: float = Field(0.5, gt=0)
    # What to do with deliveries found in flight after a crash: send again once, or fail them.
    in_doubt: Literal["resend", "fail"] = "resend"


class ChannelsConfig(Section):
    sms: SmsChannelSection = SmsChannelSection()
    outbox: OutboxSection = OutboxSection()
    retry: RetrySection = RetrySection()
    log_file: str = "../var/outbox.log"
