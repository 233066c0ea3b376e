"""config/retention.yaml (optional): how long raw inputs, deliveries and provider attempts are kept."""

from __future__ import annotations

from pydantic import Field, model_validator

from alerts.settings import Settings, load_optional
from alerts.settings._base import Section

FILENAME = "retention.yaml"


class RetentionConfig(Section):
    # Received documents, verbatim. Long enough to review a whole flood season afterwards.
    raw_inputs_days: int = Field(400, ge=1)
    # Finished deliveries (sent, delivered, failed, expired, withdrawn, suppressed); open ones are never pruned.
    deliveries_days: int = Field(400, ge=1)
    # The provider request log: every attempt with its latency and error (the bulk of the rows).
    delivery_attempts_days: int = Field(90, ge=1)
    # Provider ids of inbound SMS already acted on (replay protection for STOP and replies).
    inbound_seen_days: int = Field(30, ge=2)
    interval_minutes: float = Field(60.0, ge=1)
    batch_size: int = Field(5000, ge=100, le=100_000)
    enabled: bool = True

    @model_validator(mode="after")
    def _attempts_not_longer(self) -> RetentionConfig:
        if self.delivery_attempts_days > self.deliveries_days:
            raise ValueError("delivery_attempts_days cannot exceed deliveries_days: attempts go with their delivery")
        return self


def retention_config(settings: Settings) -> RetentionConfig:
    """retention.yaml from the config directory, validated; defaults when the file is absent."""
    return load_optional(settings, FILENAME, RetentionConfig)
