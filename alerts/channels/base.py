"""The channel interface, and the one shared place that times, logs and classifies every send."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

log = logging.getLogger("alerts.channels")


@dataclass(frozen=True)
class Outbound:
    """One delivery to make: already rendered, already addressed."""

    delivery_id: int
    message_id: int
    draft_id: int
    channel: str
    address: str  # E.164 phone for SMS; a contact reference for other channels
    text: str
    exercise: bool = False
    title: str = ""
    # Set by the outbox worker: the sender (number or Messaging Service) whose shared rate budget
    # granted this send (empty: the channel picks), and when the message stops being worth delivering
    # (the warning's end), for providers that can drop late messages themselves.
    sender: str = ""
    expires_at: datetime | None = None
    # A direct send, not backed by a message row (message_id 0: task notices, 叫应): the registered
    # template it fills and the values it filled in, so that a domestic provider can send it as that
    # template's code and parameters. Channels that send text ignore them.
    template_id: str = ""
    params: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Ok:
    provider_id: str = ""
    provider_status: str = "sent"


@dataclass(frozen=True)
class Retry:
    """A temporary failure: try again after `after` seconds (None: use the backoff schedule)."""

    reason: str
    after: float | None = None
    code: str = ""


@dataclass(frozen=True)
class Permanent:
    """A failure that retrying cannot fix (invalid number, unsubscribed, bad request)."""

    reason: str
    code: str = ""


@dataclass(frozen=True)
class Paused:
    """An account-level fault, not this delivery's: authentication failed, the account is suspended,
    the provider throttles the whole account or its queue is full. The channel (or, with `sender`,
    one sender) stops for `after` seconds, an operator problem is shown, and the delivery stays
    queued without spending an attempt. `after` <= 0 means the provider gave no hint: the worker's
    backoff applies (growing while the fault repeats, reset when a send works again)."""

    reason: str
    after: float = 60.0
    code: str = ""
    sender: str = ""  # empty: the whole channel
    # For the operator problem (Chinese, as the console shows it): what happened and what to do.
    problem: str = ""
    todo: str = ""
    severity: str = "warning"


Outcome = Ok | Retry | Permanent | Paused


@dataclass(frozen=True)
class Found:
    """Reconciliation: the provider has a record of this delivery (it was sent)."""

    provider_id: str
    provider_status: str = "sent"


@dataclass(frozen=True)
class NotFound:
    """Reconciliation: the provider has no record of it after the time asked about (send it)."""


@dataclass(frozen=True)
class Unknowable:
    """Reconciliation is impossible for this one (no provider record to ask): the in-doubt policy applies."""

    reason: str


Reconciled = Found | NotFound | Unknowable


async def sms_number(item: Outbound, contacts: Any | None) -> str | Permanent:
    """The number to text: residents' numbers are stored as they are; an organisation's contact
    (`contact:<id>`) is decrypted from the contact book only now, at send time."""
    if not item.address.startswith("contact:"):
        return item.address
    if contacts is None:
        return Permanent("organisation contacts cannot be read by this channel (no contact book)", code="contact")
    from alerts.channels.webhook import TargetError

    try:
        contact = await contacts.resolve(item.address)
    except TargetError as exc:
        return Permanent(str(exc), code="contact")
    return str(contact.address)


def with_signature(text: str, signature: str) -> str:
    """The SMS as the carrier sees it: the registered 【signature】 first, added once at send time."""
    if not signature or text.startswith(signature):
        return text
    return signature + text


class Channel(Protocol):
    name: str

    async def send(self, item: Outbound) -> Outcome: ...

    async def close(self) -> None: ...


class BatchChannel(Channel, Protocol):
    """A channel whose provider takes many recipients in one call (Aliyun SendSms: 1,000 numbers with one
    template and parameters; Tencent SendSms: 200). The worker groups what it claimed by `batch_key`
    and hands each group of at most `max_batch` to `send_batch`, which answers one outcome per item, in
    order: the ledger stays one row per (message, recipient, channel)."""

    max_batch: int

    def batch_key(self, item: Outbound) -> object: ...

    async def send_batch(self, items: list[Outbound]) -> list[Outcome]: ...


@dataclass(frozen=True)
class Pace:
    """A sending rate: `rate` messages per second on average, at most `burst` at once."""

    rate: float
    burst: int = 1


class SenderPaced(Protocol):
    """A channel that sends from a pool of senders, each with its own rate (Twilio numbers, or one
    Messaging Service). The worker takes tokens from a budget shared by every process in the database
    and names the sender in `Outbound.sender`."""

    def sender_paces(self) -> dict[str, Pace]: ...


class AddressPaced(Protocol):
    """A channel whose provider limits each address on its own (an IM group robot: 20 messages a minute).
    The worker paces every address with `address_pace`, shared by every process."""

    address_pace: Pace


class Reconciling(Protocol):
    """A channel that can ask its provider whether an in-doubt delivery was really sent (Twilio's
    message list by recipient and date; Aliyun QuerySendDetails; Tencent PullSmsSendStatus)."""

    async def reconcile(self, item: Outbound, *, since: datetime) -> Reconciled: ...


@dataclass
class Timed:
    outcome: Outcome
    latency_ms: float


async def send_timed(channel: Channel, item: Outbound) -> Timed:
    """Send through a channel; any unexpected exception becomes a Retry, never a crash of the worker."""
    start = time.perf_counter()
    try:
        outcome = await channel.send(item)
    except Exception as exc:  # noqa: BLE001 - a channel bug must not lose the delivery
        log.warning("channel %s raised %s for delivery %s", channel.name, exc.__class__.__name__, item.delivery_id)
        outcome = Retry(reason=f"{exc.__class__.__name__}: {exc}"[:300])
    latency = (time.perf_counter() - start) * 1000
    return Timed(outcome, latency)
