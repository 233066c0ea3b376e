"""The "voice" channel: one read-out call per delivery through the configured provider.

A call is "sent" when the provider accepted it; its receipt (alerts/channels/voice/receipts.py) says
whether it was answered, places it again when not (voice.retries), and a pressed 1 acknowledges 叫应.
Calls of the 叫应 escalation (no message, delivery id 0) read their text as it is: Twilio says it,
Aliyun reads it through the registered callout template (voice_providers.yaml aliyun.callout).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from alerts.channels.base import Outbound, Outcome, Pace, Permanent, sms_number
from alerts.channels.sms.base import MessageBook
from alerts.channels.voice.aliyun import AliyunVoiceProvider
from alerts.channels.voice.registry import VoiceRegistry
from alerts.channels.voice.twilio_voice import TwilioVoiceProvider
from alerts.recipients import mask_phone

log = logging.getLogger("alerts.channels.voice")


class VoiceChannel:
    name = "voice"

    def __init__(self, provider: AliyunVoiceProvider | TwilioVoiceProvider, registry: VoiceRegistry,
                 book: MessageBook, *, contacts: Any | None = None, concurrency: int = 8):
        self.provider = provider
        self.registry = registry
        self.book = book
        self.contacts = contacts
        self._gate = asyncio.Semaphore(concurrency)

    async def send(self, item: Outbound) -> Outcome:
        phone = await sms_number(item, self.contacts)
        if isinstance(phone, Permanent):
            return phone
        why = self.provider.can_call(phone)
        if why:
            return Permanent(why, code="unreachable_number")
        async with self._gate:
            if isinstance(self.provider, TwilioVoiceProvider):
                outcome = await self.provider.call(phone, item.text, delivery_id=item.delivery_id)
            else:
                outcome = await self._aliyun(item, phone)
        log.info("voice: delivery %s to %s: %s", item.delivery_id, mask_phone(phone), type(outcome).__name__)
        return outcome

    async def _aliyun(self, item: Outbound, phone: str) -> Outcome:
        assert isinstance(self.provider, AliyunVoiceProvider)
        if not item.message_id:
            if self.registry.callout is None:
                return Permanent("no Aliyun TTS template for 叫应 calls (voice_providers.yaml aliyun.callout)",
                                 code="unregistered")
            return await self.provider.call(phone, self.registry.callout, {"text": item.text}, out_id="e")
        message = (await self.book.get_many({item.message_id})).get(item.message_id)
        if message is None:
            return Permanent(f"message {item.message_id} not found", code="no_message")
        registered = self.registry.get(message.template_id)
        if registered is None:
            return Permanent(f"template {message.template_id} has no registered Aliyun TTS code "
                             "(voice_providers.yaml)", code="unregistered")
        if message.params is None or registered.fill(message.params) != message.text:
            return Permanent(f"the text of message {message.id} is not the registered wording of "
                             f"{message.template_id} (edited?); it cannot be read as that template", code="unregistered")
        return await self.provider.call(phone, registered, message.params, out_id=f"d{item.delivery_id}")

    async def close(self) -> None:
        await self.provider.close()
        await self.book.close()
        if self.contacts is not None:
            await self.contacts.close()


class TwilioVoiceChannel(VoiceChannel):
    """Twilio places an account's calls at a set rate (calls per second, 1 unless raised): the caller
    number is a sender whose shared budget every worker process takes from, as for SMS."""

    def __init__(self, provider: TwilioVoiceProvider, registry: VoiceRegistry, book: MessageBook, *,
                 calls_per_second: float, contacts: Any | None = None, concurrency: int = 8):
        super().__init__(provider, registry, book, contacts=contacts, concurrency=concurrency)
        self.calls_per_second = calls_per_second

    def sender_paces(self) -> dict[str, Pace]:
        assert isinstance(self.provider, TwilioVoiceProvider)
        return {self.provider.caller: Pace(self.calls_per_second, 1)}
