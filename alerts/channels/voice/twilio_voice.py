"""Twilio Voice through the official library: calls.create with TwiML that reads the text twice in
Mandarin and gathers one key ("按1确认"); the call's status and the key come back to signed hooks."""

from __future__ import annotations

import logging

from twilio.twiml.voice_response import VoiceResponse

from alerts.channels.base import Ok, Outcome, Permanent
from alerts.channels.twilio_sms import CachingClient, RebasedHttpClient, classify

log = logging.getLogger("alerts.channels.voice.twilio")
LANGUAGE = "cmn-CN"
CONFIRM = "收到请按1。"


def twiml(text: str, gather_url: str | None) -> str:
    """The call: the text, once more after a pause, then one key gathered (a pressed 1 acknowledges)."""
    response = VoiceResponse()
    if gather_url:
        gather = response.gather(num_digits=1, action=gather_url, method="POST", timeout=8)
        gather.say(text, language=LANGUAGE)
        gather.pause(length=1)
        gather.say("再播报一遍。" + text, language=LANGUAGE)
        gather.say(CONFIRM, language=LANGUAGE)
    else:
        response.say(text, language=LANGUAGE)
        response.pause(length=1)
        response.say("再播报一遍。" + text, language=LANGUAGE)
    return str(response)


class TwilioVoiceProvider:
    name = "twilio"

    def __init__(self, *, account_sid: str, auth_token: str, caller: str, public_base_url: str | None,
                 api_base_url: str | None, timeout: float, concurrency: int):
        self.http = RebasedHttpClient(api_base_url, timeout=timeout, connections=concurrency)
        self.client = CachingClient(account_sid, auth_token, http_client=self.http)
        self.caller = caller
        self.base = public_base_url.rstrip("/") if public_base_url else None
        self.requests = 0

    def can_call(self, phone: str) -> str:
        return "" if phone.startswith("+") else "Twilio calls E.164 numbers only"

    def hook(self, path: str, delivery_id: int) -> str | None:
        # Without a public address Twilio could not reach us: the call is still placed, unconfirmed.
        return f"{self.base}/hooks/twilio/voice/{path}?d={delivery_id}" if self.base else None

    async def call(self, phone: str, text: str, *, delivery_id: int) -> Outcome:
        self.requests += 1
        status = self.hook("status", delivery_id)
        extra: dict[str, object] = {"status_callback": status, "status_callback_method": "POST"} if status else {}
        try:
            call = await self.client.calls.create_async(
                to=phone, from_=self.caller, twiml=twiml(text, self.hook("gather", delivery_id)),
                timeout=30, **extra)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - classified as for SMS (account faults pause the channel)
            return classify(exc)
        if not call.sid:
            return Permanent("Twilio answered without a call sid", code="no_sid")
        return Ok(provider_id=str(call.sid), provider_status="calling")

    async def close(self) -> None:
        await self.http.close()
