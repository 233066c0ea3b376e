"""Twilio webhooks: delivery status callbacks and inbound replies (STOP/退订, START/订阅, HELP/帮助).

Both are signed by Twilio (X-Twilio-Signature over the public URL and the form fields); anything
unsigned or wrongly signed is refused with 403 before it is read further.
"""

from __future__ import annotations

import logging

from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from alerts.recipients import mask_phone, normalise_phone, opt_in, opt_out
from alerts.store import deliveries as delivery_store
from alerts.web.auth import service

routes = web.RouteTableDef()
log = logging.getLogger("alerts.web.twilio")

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD", "取消订阅"}
START_WORDS = {"START", "UNSTOP", "YES", "订阅"}
HELP_WORDS = {"HELP", "INFO", "帮助"}


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
    phone = normalise_phone(form.get("From", "")) or form.get("From", "")
    word = form.get("Body", "").strip().upper().rstrip("。.!！")
    name = svc.settings.service.name
    now = svc.clock.now()
    actor = f"sms:{mask_phone(phone)}"
    if word in STOP_WORDS:
        async with svc.db.write() as conn:
            await opt_out(conn, phone=phone, how=f"sms:{word}", at=now, actor=actor, origin="twilio")
        log.info("inbound %s from %s: opted out", word, mask_phone(phone))
        return _twiml(f"{name}：您已退订，将不再收到本服务的短信。回复“订阅”可恢复。")
    if word in START_WORDS:
        async with svc.db.write() as conn:
            known = await opt_in(conn, phone=phone, how=f"sms:{word}", at=now, actor=actor, origin="twilio")
        log.info("inbound %s from %s: opted in (changed: %s)", word, mask_phone(phone), known)
        return _twiml(f"{name}：您已恢复订阅应急科普与预警提示短信。回复“退订”可停止。")
    if word in HELP_WORDS:
        return _twiml(f"{name}：由高平市科协与应急管理部门提供的应急科普与预警提示短信服务。"
                      "回复“退订”或 TD 停止接收，回复“订阅”恢复接收。")
    log.info("inbound message from %s ignored (not a keyword)", mask_phone(phone))
    return _twiml(None)
