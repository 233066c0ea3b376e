"""What a channel's answer means for the ledger: sent, ended, tried again while the warning is in force,
or left queued while its channel or sender is paused.

Warnings are retried until the alert ends (or a ceiling after approval, for warnings without an end),
never given up after a count of attempts or crashes; campaigns keep a short budget of attempts.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from alerts.channels.base import Ok, Outcome, Paused, Permanent, Retry
from alerts.settings.channels import ChannelsConfig
from alerts.store.deliveries import Claimed, Finished


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries so a recovering provider is not stampeded."""
    return random.uniform(0, min(cap, base * (2 ** max(0, attempt - 1))))


def pause_seconds(pauses_before: int, base: float, cap: float) -> float:
    """A channel's pause grows while faults repeat (1, 2, 4 ... seconds), reset by a send that works."""
    return min(cap, base * (2 ** max(0, pauses_before)))


def ceiling(item: Claimed, config: ChannelsConfig) -> datetime | None:
    """The last moment a warning is retried when its alert names no end."""
    if item.decided_at is None:
        return None
    return item.decided_at + timedelta(hours=config.retry.warning_ceiling_hours)


def past_due(item: Claimed, now: datetime, config: ChannelsConfig) -> Finished | None:
    """A delivery no longer worth sending: withdrawn, expired, or beyond the retry ceiling."""
    if item.draft_state == "withdrawn":
        return Finished(item.id, "withdrawn", error="the draft was withdrawn before sending", undo_attempt=True)
    if item.expires_at is not None and item.expires_at <= now:
        return Finished(item.id, "expired", error="its alert expired before it could be sent", undo_attempt=True)
    if item.draft_kind == "campaign" and item.attempts > config.retry.campaign_max_attempts:
        return Finished(item.id, "failed", error_code="attempts", undo_attempt=True,
                        error=f"gave up after {item.attempts - 1} attempts (campaigns keep a short budget)")
    if item.draft_kind != "campaign" and item.expires_at is None and (limit := ceiling(item, config)) is not None \
            and limit <= now:
        return Finished(item.id, "failed", error_code="ceiling", undo_attempt=True,
                        error=f"not sent within {config.retry.warning_ceiling_hours:g} h of approval; given up")
    return None


def decide(item: Claimed, outcome: Outcome, *, now: datetime, latency_ms: float | None, config: ChannelsConfig,
           paused_until: datetime | None = None, reconciled: str | None = None) -> Finished:
    """The ledger entry for one answer."""
    if isinstance(outcome, Ok):
        return Finished(item.id, "sent", provider_id=outcome.provider_id, provider_status=outcome.provider_status,
                        outcome="ok", latency_ms=latency_ms, reconciled=reconciled)
    if isinstance(outcome, Permanent):
        return Finished(item.id, "failed", error_code=outcome.code or None, error=outcome.reason, outcome="permanent",
                        latency_ms=latency_ms, reconciled=reconciled)
    if isinstance(outcome, Paused):
        # Not this delivery's fault: it waits for the pause to end and keeps its attempt.
        return Finished(item.id, "queued", error_code=outcome.code or "paused", error=f"paused: {outcome.reason}",
                        next_attempt_at=paused_until or now, outcome="paused" if latency_ms is not None else None,
                        latency_ms=latency_ms, undo_attempt=True, reconciled=reconciled)
    assert isinstance(outcome, Retry)
    retry = config.retry
    code = outcome.code or None
    if item.draft_kind == "campaign" and item.attempts >= retry.campaign_max_attempts:
        return Finished(item.id, "failed", error_code=code, outcome="retry", latency_ms=latency_ms,
                        error=f"gave up after {item.attempts} attempts: {outcome.reason}", reconciled=reconciled)
    delay = outcome.after if outcome.after is not None else backoff_seconds(
        item.attempts, retry.base_delay_seconds, retry.max_delay_seconds)
    due = now + timedelta(seconds=delay)
    if item.draft_kind != "campaign":
        if item.expires_at is not None and due >= item.expires_at:
            return Finished(item.id, "expired", error_code=code, outcome="retry", latency_ms=latency_ms,
                            error=f"its alert ended before a retry could be sent: {outcome.reason}",
                            reconciled=reconciled)
        limit = ceiling(item, config)
        if item.expires_at is None and limit is not None and due >= limit:
            return Finished(item.id, "failed", error_code=code, outcome="retry", latency_ms=latency_ms,
                            error=f"gave up {retry.warning_ceiling_hours:g} h after approval: {outcome.reason}",
                            reconciled=reconciled)
    return Finished(item.id, "queued", error_code=code, error=outcome.reason, next_attempt_at=due, outcome="retry",
                    latency_ms=latency_ms, reconciled=reconciled)
