"""Hooks for read-out calls: Aliyun VoiceReport pushes and Twilio Voice status and key callbacks.

Aliyun does not sign its pushes: the URL carries the same secret path token as the SMS receipts
(ALERTS_SMS_CALLBACK_TOKEN, constant-time compare; without it the hook answers 404). Twilio's are
validated with its X-Twilio-Signature like the SMS hooks (403 otherwise). A pressed 1 acknowledges
叫应 for the called number (alerts.events.acks, via "voice").
"""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.twiml.voice_response import VoiceResponse

from alerts.channels.voice import receipts
from alerts.web.auth import service
from alerts.web.sms_receipts import _aliyun_ok, _entries
from alerts.web.twilio import _signed_form

routes = web.RouteTableDef()
log = logging.getLogger("alerts.web.voice_hooks")


@routes.post("/hooks/aliyun/voice/report/{token}")
async def aliyun_voice_report(request: web.Request) -> web.Response:
    entries = await _entries(request, single_ok=True)
    svc = service(request)
    policy = svc.settings.channels.voice
    found = acknowledged = 0
    async with svc.db.write() as conn:
        for entry in entries:
            applied = await receipts.apply_call(conn, receipts.aliyun_report(entry), now=svc.clock.now(),
                                                policy=policy)
            found += applied.found
            acknowledged += applied.acknowledged
    log.info("aliyun voice reports: %d received, %d matched calls, %d acknowledgements", len(entries), found,
             acknowledged)
    return _aliyun_ok()


def _delivery(request: web.Request) -> int | None:
    raw = request.query.get("d", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else None


@routes.post("/hooks/twilio/voice/status")
async def twilio_voice_status(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    if not form.get("CallSid") or not form.get("CallStatus"):
        raise web.HTTPBadRequest(text="CallSid and CallStatus are required")
    svc = service(request)
    async with svc.db.write() as conn:
        await receipts.apply_call(conn, receipts.twilio_status(form, _delivery(request)), now=svc.clock.now(),
                                  policy=svc.settings.channels.voice)
    return web.Response(text="", status=200)


@routes.post("/hooks/twilio/voice/gather")
async def twilio_voice_gather(request: web.Request) -> web.Response:
    """The key pressed after the read-out: 1 acknowledges; the caller hears that it was recorded."""
    form = await _signed_form(request)
    svc = service(request)
    digits = form.get("Digits", "")
    report = receipts.CallReport(provider_id=form.get("CallSid", ""), delivery_id=_delivery(request),
                                 phone=form.get("To") or None, answered=True, final=False, keys=digits,
                                 detail="gather")
    async with svc.db.write() as conn:
        applied = await receipts.apply_call(conn, report, now=svc.clock.now(), policy=svc.settings.channels.voice)
    answer = VoiceResponse()
    if "1" in digits:
        answer.say("已确认收到，谢谢。", language="cmn-CN")
    else:
        answer.say("未确认。如已收到，请回复短信“收到”。", language="cmn-CN")
    answer.hangup()
    log.info("twilio voice key for %s: acknowledged %d", form.get("CallSid", "")[:12], applied.acknowledged)
    return web.Response(text=str(answer), content_type="application/xml")
