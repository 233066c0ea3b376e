"""One unit of the worker's work: check a claimed delivery is still worth sending, settle an in-doubt one
with the provider's own record, then send it (or a batch of them through a batch channel)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from alerts.channels.base import (
    Channel,
    Found,
    NotFound,
    Outbound,
    Outcome,
    Paused,
    Retry,
    Unknowable,
    send_timed,
)
from alerts.clock import Clock
from alerts.outbox import policy
from alerts.settings.channels import ChannelsConfig
from alerts.store.deliveries import Claimed, Finished

log = logging.getLogger("alerts.outbox")


@dataclass
class Unit:
    """What one sender handles at once: one delivery, or a batch for one call of a batch channel."""

    channel: str
    items: list[Claimed]
    senders: dict[int, str] = field(default_factory=dict)


@dataclass
class Done:
    item: Claimed
    finished: Finished
    pause: Paused | None = None  # an account-level fault: the writer pauses its key and dates the retry
    sender: str = ""  # the sender whose token it used (to resume a paused sender when it works)


def outbound(item: Claimed, sender: str = "") -> Outbound:
    return Outbound(delivery_id=item.id, message_id=item.message_id, draft_id=item.draft_id, channel=item.channel,
                    address=item.address, text=item.text, exercise=item.exercise, sender=sender,
                    expires_at=item.expires_at)


class Sender:
    """The per-unit steps, shared by every sender task of a worker."""

    def __init__(self, channels: Mapping[str, Channel], config: ChannelsConfig, clock: Clock,
                 paused_until: Callable[[str, str, str], datetime | None]):
        self.channels = channels
        self.config = config
        self.clock = clock
        # (channel, sender, address) -> end of a pause this process knows of, or None
        self.paused_until = paused_until

    async def process(self, unit: Unit) -> list[Done]:
        now = self.clock.now()
        channel = self.channels.get(unit.channel)
        done: list[Done] = []
        live: list[Claimed] = []
        for item in unit.items:
            end = policy.past_due(item, now, self.config)
            if end is None and channel is None:
                end = Finished(item.id, "failed", error=f"no channel '{item.channel}' is configured",
                               error_code="no_channel")
            if end is None:
                until = self.paused_until(unit.channel, unit.senders.get(item.id, ""), item.address)
                if until is not None:  # paused after it was claimed: it waits, no request is made
                    end = Finished(item.id, "queued", error_code="paused", error="its channel or sender is paused",
                                   next_attempt_at=until, undo_attempt=True)
            if end is not None:
                done.append(Done(item, end))
            else:
                live.append(item)
        if not live or channel is None:
            return done
        to_send: list[tuple[Claimed, str | None]] = []
        for item in live:
            if not item.needs_reconcile:
                to_send.append((item, None))
                continue
            settled = await self._reconcile(channel, item, unit.senders.get(item.id, ""))
            if isinstance(settled, Done):
                done.append(settled)
            else:
                to_send.append((item, settled))
        if not to_send:
            return done
        if hasattr(channel, "send_batch") and hasattr(channel, "max_batch"):
            done.extend(await self._send_batch(channel, unit, to_send))
        else:
            for item, reconciled in to_send:
                sender = unit.senders.get(item.id, "")
                timed = await send_timed(channel, outbound(item, sender))
                done.append(self._done(item, timed.outcome, timed.latency_ms, reconciled, sender))
        return done

    def _done(self, item: Claimed, outcome: Outcome, latency_ms: float | None, reconciled: str | None,
              sender: str) -> Done:
        finished = policy.decide(item, outcome, now=self.clock.now(), latency_ms=latency_ms, config=self.config,
                                 reconciled=reconciled)
        return Done(item, finished, outcome if isinstance(outcome, Paused) else None, sender)

    async def _reconcile(self, channel: Channel, item: Claimed, sender: str) -> Done | str:
        """Settle an in-doubt delivery: a Done when that ends it, else how it was settled (then it is sent)."""
        ask = getattr(channel, "reconcile", None)
        since = item.since or item.decided_at or self.clock.now()
        start = time.perf_counter()
        if ask is None:
            answer: object = Unknowable(f"channel {channel.name} keeps no record to ask")
        else:
            try:
                answer = await ask(outbound(item, sender), since=since)
            except Exception as exc:  # noqa: BLE001 - cannot ask now: ask again later, never guess
                log.warning("outbox: could not look up in-doubt delivery %s at %s: %s", item.id, channel.name,
                            exc.__class__.__name__)
                outcome = Retry(f"could not look it up at the provider: {exc.__class__.__name__}", code="reconcile")
                finished = policy.decide(item, outcome, now=self.clock.now(), latency_ms=None, config=self.config)
                finished.outcome = "retry"
                return Done(item, finished)
        ms = (time.perf_counter() - start) * 1000
        if isinstance(answer, Found):
            return Done(item, Finished(item.id, "sent", provider_id=answer.provider_id or None,
                                       provider_status=answer.provider_status, outcome="found", latency_ms=ms,
                                       error="in doubt; the provider has it: not sent again", reconciled="found"))
        if isinstance(answer, NotFound):
            return "not_found"
        reason = answer.reason if isinstance(answer, Unknowable) else "no answer"
        rule = self.config.outbox.in_doubt_campaigns if item.draft_kind == "campaign" else self.config.outbox.in_doubt
        if rule == "fail":
            return Done(item, Finished(item.id, "failed", error_code="in_doubt", outcome="in_doubt",
                                       error=f"in doubt and the provider cannot tell ({reason}); not resent "
                                             f"(policy: fail)", reconciled="unknowable"))
        return "unknowable"

    async def _send_batch(self, channel: Channel, unit: Unit, to_send: list[tuple[Claimed, str | None]]) -> list[Done]:
        items = [outbound(item, unit.senders.get(item.id, "")) for item, _ in to_send]
        start = time.perf_counter()
        try:
            outcomes: list[Outcome] = list(await channel.send_batch(items))  # type: ignore[attr-defined]
            if len(outcomes) != len(items):
                raise RuntimeError(f"send_batch answered {len(outcomes)} outcomes for {len(items)} items")
        except Exception as exc:  # noqa: BLE001 - a channel bug must not lose the deliveries
            log.warning("channel %s batch of %d raised %s", channel.name, len(items), exc.__class__.__name__)
            outcomes = [Retry(reason=f"{exc.__class__.__name__}: {exc}"[:300])] * len(items)
        ms = (time.perf_counter() - start) * 1000
        return [self._done(item, outcome, ms, reconciled, unit.senders.get(item.id, ""))
                for (item, reconciled), outcome in zip(to_send, outcomes, strict=True)]
