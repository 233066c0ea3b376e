"""Twilio webhooks: delivery status callbacks and inbound replies (STOP/退订, START/订阅, HELP/帮助).

Both are signed by Twilio (X-Twilio-Signature over the public URL and the form fields); anything
unsigned or wrongly signed is refused with 403 before it is read further. A signature does not
expire, so a captured request could be sent again: inbound replies are acted on once per
MessageSid (alerts/store/inbound.py), and a status callback only moves a delivery forward.
"""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from alerts.replies import handle_reply
from alerts.store import deliveries as delivery_store
from alerts.web.auth import service

routes = web.RouteTableDef()
log = logging.getLogger("alerts.web.twilio")

async def _signed_form(request: web.Request) -> dict[str, str]:
    """The form fields, if the request carries a valid Twilio signature; otherwise 403."""
    svc = service(request)
    token = svc.settings.secrets.twilio_auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    form = {k: str(v) for k, v in (await request.post()).items()}
    # Twilio signs the URL it called: the public one, not whatever a proxy forwarded to us.
    url = svc.settings.service.http.public_base_url.rstrip("/") + request.path_qs
    if not token or not signature or not RequestValidator(token).validate(url, form, signature):
        log.warning("twilio hook %s: refused a request without a valid signature from %s", request.path,
                    request.remote)
        raise web.HTTPForbidden(text="invalid or missing X-Twilio-Signature")
    return form


@routes.post("/hooks/twilio/status")
async def status_callback(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    svc = service(request)
    raw_id = request.query.get("d", "")
    delivery_id = int(raw_id) if raw_id.isdigit() else None
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    if not status or (delivery_id is None and not sid):
        raise web.HTTPBadRequest(text="MessageStatus and MessageSid (or ?d=) are required")
    async with svc.db.write() as conn:
        receipt = await delivery_store.apply_status(conn, delivery_id=delivery_id, provider_id=sid, status=status,
                                                    error_code=form.get("ErrorCode") or None, now=svc.clock.now())
    if not receipt.found:
        log.info("twilio status %s for %s: %s", status, sid or raw_id, receipt.note)
    # 200 even when nothing changed: Twilio must not retry a duplicate or a stale status.
    return web.Response(text="", status=200)


def _twiml(text: str | None) -> web.Response:
    reply = MessagingResponse()
    if text:
        reply.message(text)
    return web.Response(text=str(reply), content_type="application/xml")


@routes.post("/hooks/twilio/inbound")
async def inbound(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    svc = service(request)
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        # Twilio always sends one; without it a replay could not be told from a new message.
        raise web.HTTPBadRequest(text="MessageSid is required")
    async with svc.db.write() as conn:
        reply = await handle_reply(conn, phone=form.get("From", ""), body=form.get("Body", ""), provider="twilio",
                                   at=svc.clock.now(), service_name=svc.settings.service.name, message_id=sid)
    return _twiml(reply.answer)
