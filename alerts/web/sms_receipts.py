"""Hooks for domestic SMS providers: Aliyun SmsReport / SmsUp and Tencent status / reply callbacks.

Neither provider signs its pushes, so each hook URL carries a secret path token (ALERTS_SMS_CALLBACK_TOKEN,
compared in constant time) and is configured only in the provider's console; without the variable the
hooks do not exist (404). Bodies must be the provider's JSON shapes; anything else is refused (400)
before it touches the database. Answers are in the shape each provider expects.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from typing import Any

from aiohttp import web

from alerts.channels.sms import receipts
from alerts.web.auth import service

routes = web.RouteTableDef()
log = logging.getLogger("alerts.web.sms_receipts")
MIN_TOKEN = 16


def callback_token() -> str | None:
    token = os.environ.get("ALERTS_SMS_CALLBACK_TOKEN", "")
    return token if len(token) >= MIN_TOKEN else None


async def _entries(request: web.Request, *, single_ok: bool = False) -> list[dict[str, Any]]:
    token = callback_token()
    if token is None:
        raise web.HTTPNotFound()
    if not hmac.compare_digest(request.match_info.get("token", "").encode(), token.encode()):
        log.warning("sms hook %s: refused a request with a wrong token from %s", request.rel_url.path.rsplit("/", 1)[0],
                    request.remote)
        raise web.HTTPForbidden(text="wrong callback token")
    try:
        data = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON array of reports") from None
    if isinstance(data, dict) and single_ok:
        data = [data]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data) or len(data) > 10_000:
        raise web.HTTPBadRequest(text="expected a JSON array of report objects")
    return data


def _aliyun_ok() -> web.Response:
    return web.json_response({"code": 0, "msg": "接收成功"})


def _tencent_ok() -> web.Response:
    return web.json_response({"result": 0, "errmsg": "OK"})


@routes.post("/hooks/aliyun/sms/report/{token}")
async def aliyun_report(request: web.Request) -> web.Response:
    entries = await _entries(request)
    svc = service(request)
    async with svc.db.write() as conn:
        applied = await receipts.apply_reports(conn, receipts.aliyun_reports(entries), now=svc.clock.now())
    log.info("aliyun reports: %d received, %d matched deliveries", applied.received, applied.matched)
    return _aliyun_ok()


@routes.post("/hooks/aliyun/sms/reply/{token}")
async def aliyun_reply(request: web.Request) -> web.Response:
    entries = await _entries(request)
    svc = service(request)
    async with svc.db.write() as conn:
        await receipts.apply_replies(conn, receipts.aliyun_replies(entries), provider="aliyun",
                                     now=svc.clock.now(), service_name=svc.settings.service.name)
    return _aliyun_ok()


@routes.post("/hooks/tencent/sms/status/{token}")
async def tencent_status(request: web.Request) -> web.Response:
    entries = await _entries(request, single_ok=True)
    svc = service(request)
    async with svc.db.write() as conn:
        applied = await receipts.apply_reports(conn, receipts.tencent_reports(entries), now=svc.clock.now())
    log.info("tencent status callbacks: %d received, %d matched deliveries", applied.received, applied.matched)
    return _tencent_ok()


@routes.post("/hooks/tencent/sms/reply/{token}")
async def tencent_reply(request: web.Request) -> web.Response:
    entries = await _entries(request, single_ok=True)
    svc = service(request)
    async with svc.db.write() as conn:
        await receipts.apply_replies(conn, receipts.tencent_replies(entries), provider="tencent",
                                     now=svc.clock.now(), service_name=svc.settings.service.name)
    return _tencent_ok()
