"""The SMS channel over an ordered list of providers: registered templates, batches, failover.

A message goes to the first healthy provider that can carry it: a domestic provider only with the
template registered there (its own code) and the text exactly the registered wording filled in;
Twilio and the log channel take the text as it is. A provider whose API keeps failing, or whose
undelivered rate passes the threshold, is left for the next one (with an operator problem) and used
again once healthy. A delivery whose call ended without an answer is reconciled with that provider
before it is sent anywhere, so a failover never sends it twice. Direct sends without a message row
(task notices, 叫应) carry their template id and values on the Outbound and follow the same rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from alerts.channels.base import (
    Channel,
    Found,
    NotFound,
    Ok,
    Outbound,
    Outcome,
    Paused,
    Permanent,
    Reconciled,
    Retry,
    Unknowable,
    sms_number,
)
from alerts.channels.sms.base import Message, MessageBook, Provider, ProviderFault, Target, mainland
from alerts.channels.sms.health import Health
from alerts.channels.sms.templates import Registered, SmsRegistry, value_problems
from alerts.settings.channels import FailoverSection

log = logging.getLogger("alerts.channels.sms")
MIXED_MAX = 100  # messages smaller than this share SendBatchSms calls of at most this many numbers


class FreeText:
    """Twilio or the log channel as a provider: the text as it is, one request per number."""

    domestic = False
    max_batch = 1000

    def __init__(self, name: str, channel: Channel, concurrency: int = 32):
        self.name = name
        self.channel = channel
        self._gate = asyncio.Semaphore(concurrency)

    async def send_group(self, registered: Registered | None, message: Message,
                         targets: list[Target]) -> list[Outcome]:
        async def one(t: Target) -> Outcome:
            async with self._gate:
                return await self.channel.send(t.item)

        return list(await asyncio.gather(*(one(t) for t in targets)))

    async def reconcile(self, target: Target, registered: Registered | None, *, since: datetime) -> Reconciled:
        reconcile = getattr(self.channel, "reconcile", None)
        if reconcile is None:
            return Unknowable(f"{self.name} cannot be asked what it sent")
        return await reconcile(target.item, since=since)  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.channel.close()


class SmsChannel:
    """name "sms": a BatchChannel and Reconciling over `providers`, in order of preference."""

    name = "sms"

    def __init__(self, providers: list[Provider], registry: SmsRegistry, book: MessageBook, *,
                 failover: FailoverSection, clock: Any = None, contacts: Any | None = None):
        from alerts.clock import Clock

        self.providers = providers
        self.registry = registry
        self.book = book
        self.failover = failover
        self.contacts = contacts
        self.clock = clock or Clock()
        self.health = Health([p.name for p in providers], failover, book.database() if book else None, self.clock)
        self.max_batch = max(p.max_batch for p in providers)
        # delivery id → (provider, when) of calls that ended without an answer: reconciled before any resend.
        self.in_doubt: dict[int, tuple[str, datetime]] = {}
        self._routes: dict[tuple[int, str], tuple[list[tuple[Provider, Registered | None]], str]] = {}

    def batch_key(self, item: Outbound) -> object:
        # One message has one template and one set of variables: one provider call per ≤ max_batch numbers.
        return item.message_id if item.message_id else ("direct", item.template_id, item.text)

    async def send(self, item: Outbound) -> Outcome:
        return (await self.send_batch([item]))[0]

    async def send_batch(self, items: list[Outbound]) -> list[Outcome]:
        direct = {id(i): await self._send_direct(i) for i in items if not i.message_id}
        backed = [i for i in items if i.message_id]
        sent = iter(await self._send_messages(backed) if backed else [])
        return [direct[id(i)] if not i.message_id else next(sent) for i in items]

    async def _send_messages(self, items: list[Outbound]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        book = await self.book.get_many({i.message_id for i in items})
        await self.health.refresh_rates()
        groups: dict[int, list[Target]] = defaultdict(list)
        for item in items:
            phone = await sms_number(item, self.contacts)
            if isinstance(phone, Permanent):
                outcomes[item.delivery_id] = phone
                continue
            message = book.get(item.message_id)
            if message is None:
                outcomes[item.delivery_id] = Permanent(f"message {item.message_id} not found", code="no_message")
                continue
            target = Target(item, phone)
            if item.delivery_id in self.in_doubt:
                settled = await self._settle_doubt(target, message)
                if settled is not None:
                    outcomes[item.delivery_id] = settled
                    continue
            groups[message.id].append(target)
        calls = self._plan(book, groups, outcomes)
        await asyncio.gather(*(self._through(chain, parts, outcomes) for chain, parts in calls))
        return [outcomes[i.delivery_id] for i in items]

    async def _send_direct(self, item: Outbound) -> Outcome:
        """A send without a message row (a task notice, a 叫应 request): the template and values it carries
        go to a domestic provider as that template's code and parameters; Twilio and the log take the text.
        Its delivery id is not the ledger's, so a call without an answer is reported, never held in doubt."""
        phone = await sms_number(item, self.contacts)
        if isinstance(phone, Permanent):
            return phone
        await self.health.refresh_rates()
        message = Message(0, item.template_id, dict(item.params) if item.params is not None else None, item.text,
                          edited=False)
        target = Target(item, phone)
        chain, why = self.candidates(message, target)
        if not chain:
            return Permanent(f"no SMS provider can send this: {why}", code="unregistered")
        outcomes: dict[int, Outcome] = {}
        await self._through(chain, [(message, [target])], outcomes)
        return outcomes[item.delivery_id]

    def candidates(self, message: Message, target: Target) -> tuple[list[tuple[Provider, Registered | None]], str]:
        """Providers able to carry this message to this number, in order; and why others cannot."""
        chain, why = self._message_route(message)
        if mainland(target.phone) is not None:
            return chain, why
        foreign = [(p, r) for p, r in chain if not p.domestic]
        reasons = [why] if why else []
        reasons += [f"{p.name} sends to mainland mobile numbers only" for p, _ in chain if p.domestic]
        return foreign, "; ".join(reasons)

    def _message_route(self, message: Message) -> tuple[list[tuple[Provider, Registered | None]], str]:
        """The providers for a message (mainland numbers), worked out once per message and text."""
        key = (message.id, message.text)
        cached = self._routes.get(key) if message.id else None
        if cached is not None:
            return cached
        out: list[tuple[Provider, Registered | None]] = []
        why: list[str] = []
        for p in self.providers:
            if not p.domestic:
                out.append((p, None))
                continue
            refused = self._refusal(p.name, message)
            if refused:
                why.append(refused)
                continue
            out.append((p, self.registry.get(p.name, message.template_id)))
        route = (out, "; ".join(why))
        if message.id:
            if len(self._routes) > 4096:
                self._routes.clear()
            self._routes[key] = route
        return route

    def _refusal(self, provider: str, message: Message) -> str:
        """Why `provider` cannot send this message as a registered template ("" when it can)."""
        what = f"message {message.id}" if message.id else "this direct SMS"
        if not message.template_id:
            return (f"{what} names no registered template, and {provider} sends registered templates only "
                    "(the sender must pass the template id and its values)")
        registered = self.registry.get(provider, message.template_id)
        if registered is None:
            return (f"template {message.template_id} has no registered {provider} code "
                    "(config/sms_providers.yaml; alerts check says what to register)")
        if message.params is None:
            return (f"{what} has no recorded template variables (drafted before they were recorded, or not "
                    "from a template)")
        if registered.fill(message.params) != message.text:
            return (f"the text of {what} is not {provider}'s registered wording of {message.template_id} "
                    "(edited, or the registered wording is out of date); it cannot go out as that template")
        account = self.registry.accounts.get(provider)
        if not message.id and account is not None:
            # Approved messages were checked at approval; a direct send is checked here, before the call.
            bad = [b for name, value in message.params.items() for b in value_problems(account, name, value)]
            if bad:
                return f"{provider} would refuse the values of {message.template_id}: " + "; ".join(bad)
        return ""

    def _plan(self, book: dict[int, Message], groups: dict[int, list[Target]], outcomes: dict[int, Outcome]
              ) -> list[tuple[list[tuple[Provider, Registered | None]], list[tuple[Message, list[Target]]]]]:
        """Provider calls to make: one message's numbers together (SendSms); small messages of one template
        with different variables together too, where the provider takes that (Aliyun SendBatchSms)."""
        buckets: dict[tuple[str, tuple[str, ...]], list[tuple[Message, list[Target]]]] = defaultdict(list)
        chains: dict[tuple[str, tuple[str, ...]], list[tuple[Provider, Registered | None]]] = {}
        for mid, targets in groups.items():
            message = book[mid]
            by_route: dict[tuple[str, ...], list[Target]] = defaultdict(list)
            for t in targets:
                chain, why = self.candidates(message, t)
                if not chain:
                    outcomes[t.item.delivery_id] = Permanent(f"no SMS provider can send this: {why}",
                                                             code="unregistered")
                    continue
                key = tuple(p.name for p, _ in chain)
                chains[(message.template_id, key)] = chain
                by_route[key].append(t)
            for key, routed in by_route.items():
                buckets[(message.template_id, key)].append((message, routed))
        calls = []
        for bucket, parts in buckets.items():
            chain = chains[bucket]
            small = [p for p in parts if len(p[1]) < MIXED_MAX] if hasattr(chain[0][0], "send_mixed") else []
            for part in parts:
                if part not in small or len(small) < 2:
                    calls.append((chain, [part]))
            if len(small) >= 2:
                mixed: list[tuple[Message, list[Target]]] = []
                for part in small:
                    if mixed and sum(len(t) for _, t in mixed) + len(part[1]) > MIXED_MAX:
                        calls.append((chain, mixed))
                        mixed = []
                    mixed.append(part)
                calls.append((chain, mixed))
        return calls

    async def _through(self, chain: list[tuple[Provider, Registered | None]],
                       parts: list[tuple[Message, list[Target]]], outcomes: dict[int, Outcome]) -> None:
        message = parts[0][0]  # every part has the same template
        targets = [t for _, ts in parts for t in ts]
        healthy = [(p, r) for p, r in chain if self.health.usable(p.name)
                   and self.health.template_usable(p.name, message.template_id)]
        # All of them failing: try them anyway in order rather than send nothing.
        order = healthy or chain
        pending = targets
        last: ProviderFault | None = None
        for index, (provider, registered) in enumerate(order):
            others = index + 1 < len(order)
            try:
                results = await self._with_retries(provider, registered, parts)
            except ProviderFault as fault:
                last = fault
                if fault.kind == "ambiguous":
                    at = datetime.now(UTC)
                    self._forget_old_doubts(at)
                    for t in pending:
                        if t.item.message_id:  # a direct send has no ledger row to reconcile later
                            self.in_doubt[t.item.delivery_id] = (provider.name, at)
                        later = "reconciled before any resend" if t.item.message_id else "the provider may have sent it"
                        outcomes[t.item.delivery_id] = Retry(f"{fault.reason}; {later}",
                                                             after=30.0, code="in_doubt")
                    await self.health.fault(provider.name, fault.kind, fault.reason, others=others)
                    return
                if fault.kind == "template":
                    await self.health.template_fault(provider.name, message.template_id, fault.reason)
                else:
                    await self.health.fault(provider.name, fault.kind, fault.reason, others=others)
                continue
            await self.health.ok(provider.name)
            for t, outcome in zip(pending, results, strict=True):
                outcomes[t.item.delivery_id] = outcome
            return
        assert last is not None
        for t in pending:
            outcomes[t.item.delivery_id] = (
                Paused(f"every SMS provider refused: {last.reason}", after=self.failover.down_seconds, code=last.code)
                if last.kind == "account" else
                Retry(f"every SMS provider failed: {last.reason}", after=last.after or self.failover.down_seconds,
                      code=last.code or last.kind))

    async def _with_retries(self, provider: Provider, registered: Registered | None,
                            parts: list[tuple[Message, list[Target]]]) -> list[Outcome]:
        """A short retry (within a minute) when nothing can have been sent; then the fault stands."""
        started = time.monotonic()
        for attempt in range(self.failover.api_retries + 1):
            try:
                if len(parts) == 1:
                    return await provider.send_group(registered, parts[0][0], parts[0][1])
                return await provider.send_mixed(registered, parts)  # type: ignore[attr-defined, no-any-return]
            except ProviderFault as fault:
                if fault.kind not in ("unreachable", "failed") or attempt == self.failover.api_retries:
                    raise
                delay = max(self.failover.retry_delay_seconds * (attempt + 1), fault.after or 0.0)
                if time.monotonic() - started + delay > 60:
                    raise
                log.info("sms provider %s: %s; retrying in %.1f s", provider.name, fault.reason, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _forget_old_doubts(self, now: datetime) -> None:
        """Deliveries the worker gave up on never come back: their doubts are dropped after a day."""
        if len(self.in_doubt) > 100_000:
            for delivery_id, (_, at) in list(self.in_doubt.items()):
                if (now - at).total_seconds() > 86_400:
                    del self.in_doubt[delivery_id]

    async def _settle_doubt(self, target: Target, message: Message) -> Outcome | None:
        """A call to `provider` ended without an answer: ask it before sending this one anywhere."""
        name, since = self.in_doubt[target.item.delivery_id]
        provider = next(p for p in self.providers if p.name == name)
        registered = self.registry.get(name, message.template_id) if provider.domestic else None
        result = await provider.reconcile(target, registered, since=since)
        if isinstance(result, Found):
            del self.in_doubt[target.item.delivery_id]
            return Ok(provider_id=result.provider_id, provider_status=result.provider_status)
        if isinstance(result, NotFound):
            del self.in_doubt[target.item.delivery_id]
            return None
        return Retry(f"in doubt with {name} and it cannot say yet: {result.reason}", after=60.0, code="in_doubt")

    async def reconcile(self, item: Outbound, *, since: datetime) -> Reconciled:
        """For the outbox's in-doubt deliveries: found with any provider that could have sent it."""
        phone = await sms_number(item, self.contacts)
        if isinstance(phone, Permanent):
            return Unknowable(phone.reason)
        message = (await self.book.get_many({item.message_id})).get(item.message_id)
        if message is None:
            return Unknowable(f"message {item.message_id} not found")
        target = Target(item, phone)
        unknowable: list[str] = []
        for provider, registered in self.candidates(message, target)[0]:
            result = await provider.reconcile(target, registered, since=since)
            if isinstance(result, Found):
                return result
            if isinstance(result, Unknowable):
                unknowable.append(f"{provider.name}: {result.reason}")
        return Unknowable("; ".join(unknowable)) if unknowable else NotFound()

    @property
    def requests(self) -> int:
        return sum(int(getattr(p, "requests", 0)) for p in self.providers)

    async def close(self) -> None:
        for p in self.providers:
            await p.close()
        await self.book.close()
        if self.contacts is not None:
            await self.contacts.close()
