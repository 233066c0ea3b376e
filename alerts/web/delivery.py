"""Delivery figures in the console (投递情况, phone-friendly) and the API: per alert chain and township,
intended, queued, sent, delivered, failed by reason, in doubt, reconciled and duplicates avoided; and on
top, whether anything is stuck and why (paused channels, deliveries waiting, a dead worker's leases)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from alerts.store import delivery_stats
from alerts.web.auth import api_user, json_error, service
from alerts.web.console import NAV, NavLink, render_page, require_permission
from alerts.web.console_words import when as local

routes = web.RouteTableDef()

if not any(link.href == "/delivery" for link in NAV):
    NAV.insert(2, NavLink("/delivery", "投递情况"))

# Why deliveries failed, as an operator reads it (unknown codes are shown as they are).
REASON_ZH = {
    "expired": "预警已结束，未再发送", "ceiling": "超过重试时限", "in_doubt": "崩溃后无法确认，按策略不重发",
    "no_channel": "未配置该通道", "contact": "联系人无法解密", "21211": "号码无效", "21610": "用户已退订",
    "21614": "非手机号码", "21408": "未开通该地区", "21612": "无法路由到该号码", "30003": "手机无法接通",
    "30004": "被拦截", "30005": "号码不存在", "30006": "固话或无法到达的运营商", "30007": "被运营商判为垃圾短信",
    "30008": "运营商未知错误", "undelivered": "运营商回执：未送达", "failed": "运营商回执：失败",
    "no_answer": "语音电话多次未接听", "frequency_limit": "超过服务商对该号码的频率限制",
}
COUNT_ZH = [("intended", "应发"), ("queued", "排队"), ("in_flight", "发送中"), ("sent", "已发出"),
            ("delivered", "已送达"), ("failed", "失败"), ("expired", "过期未发"), ("withdrawn", "已撤回"),
            ("in_doubt", "崩溃存疑"), ("reconciled", "已核对"), ("duplicates_avoided", "避免重发")]

_COUNTS = {"type": "object", "properties": {
    **{k: {"type": "integer"} for k in delivery_stats.COUNTS},
    "failed_by_reason": {"type": "object", "additionalProperties": {"type": "integer"}}}}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/delivery": {"get": {
        "summary": "Delivery figures per alert chain and township, and whether the outbox is stuck",
        "description": "Needs `view`. `?chain=` limits it to one alert chain (its group key); `?limit=` chains "
                       "(default 20, the latest first).",
        "parameters": [{"name": "chain", "in": "query", "schema": {"type": "string"}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}],
        "responses": {"200": {"description": "Figures", "content": {"application/json": {"schema": {
            "type": "object", "required": ["outbox", "chains"],
            "properties": {
                "outbox": {"type": "object", "description": "the outbox as `alerts outbox status --json` prints it"},
                "chains": {"type": "array", "items": {"type": "object", "properties": {
                    "chain": {"type": "string"}, "hazard": {"type": ["string", "null"]},
                    "level": {"type": ["string", "null"]}, "drafts": {"type": "integer"},
                    "last_decided_at": {"type": ["string", "null"], "format": "date-time"},
                    "totals": _COUNTS,
                    "townships": {"type": "array", "items": {"allOf": [_COUNTS, {"type": "object", "properties": {
                        "area": {"type": "string"}, "name": {"type": "string"}}}]}}}}}}}}}},
            "400": {"description": "Bad query"}, "401": {"description": "No token"},
            "403": {"description": "No permission"}},
    }},
}


async def _figures(request: web.Request, *, chain: str | None, limit: int) -> dict[str, Any]:
    svc = service(request)
    async with svc.db.read() as conn:
        status = await delivery_stats.status(conn, svc.clock.now())
        chains = await delivery_stats.by_chain(conn, limit=limit, group_key=chain)
    names = {t.code: t.name for t in svc.areas.townships.values()}
    names["test"] = "演练号码"
    for c in chains:
        for t in c["townships"]:
            t["name"] = names.get(t["area"], t["area"])
    return {"outbox": status.as_dict(), "chains": chains}


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise json_error(400, f"limit: {raw!r} — expected a whole number from 1 to 200")
    return int(raw)


@routes.get("/api/v1/delivery")
async def delivery_api(request: web.Request) -> web.Response:
    user = await api_user(request)
    if not service(request).policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view delivery figures: it needs the view permission")
    figures = await _figures(request, chain=request.query.get("chain") or None, limit=_limit(request))
    return web.json_response(figures, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@routes.get("/delivery")
async def delivery_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看投递情况")
    chain = request.query.get("chain") or None
    raw = request.query.get("limit", "20")
    limit = int(raw) if raw.isdigit() and 1 <= int(raw) <= 200 else 20
    figures = await _figures(request, chain=chain, limit=limit)
    return render_page(request, "delivery.html", sess, outbox=figures["outbox"], chains=figures["chains"],
                       counts_zh=COUNT_ZH, reason_zh=REASON_ZH, chain=chain or "", shown=_shown)


def _shown(iso: str | None) -> str:
    """An ISO time of the figures (UTC) as people in Gaoping read it."""
    return local(datetime.fromisoformat(iso)) if iso else ""
