"""Warnings in force: every chain whose latest message still stands, on a phone-friendly console page
(/chains, 在发预警) and in the API (GET /api/v1/chains), with its stage, level, area and expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store import alerts as alert_store
from alerts.web.auth import api_user, json_error, service
from alerts.web.console import NAV, NavLink, render_page, require_permission

routes = web.RouteTableDef()
if not any(link.href == "/chains" for link in NAV):
    NAV.append(NavLink("/chains", "在发预警"))

_CHAIN = {"type": "object", "required": ["chain_id", "alert_id", "identifier", "stage"], "properties": {
    "chain_id": {"type": "integer"}, "alert_id": {"type": "integer"}, "identifier": {"type": "string"},
    "sender": {"type": "string"}, "hazard": {"type": ["string", "null"]}, "level": {"type": ["string", "null"]},
    "stage": {"type": "string"}, "areas": {"type": "array", "items": {"type": "string"}},
    "sent": {"type": "string"}, "expires": {"type": ["string", "null"]}, "messages": {"type": "integer"}}}
_ERR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/chains": {"get": {
        "summary": "Warning chains still in force: the latest message of each, its stage, level, area and expiry",
        "description": "Needs `view`.",
        "responses": {"200": {"description": "Chains", "content": {"application/json": {"schema": {
            "type": "object", "required": ["chains"],
            "properties": {"chains": {"type": "array", "items": _CHAIN}}}}}}, "401": _ERR, "403": _ERR},
    }},
}


async def in_force(request: web.Request, conn: AsyncConnection) -> list[dict[str, Any]]:
    svc = service(request)
    out = []
    for row in await alert_store.in_force(conn):
        alert = alert_store.row_to_alert(row)
        events = await alert_store.events(conn, row.id)
        stage = next((e.change.removeprefix("stage:") for e in reversed(events) if e.change.startswith("stage:")),
                     "new")
        chain = await alert_store.chain_messages(conn, int(row.chain_id or row.id))
        codes = svc.areas.covered(alert)
        out.append({"chain_id": int(row.chain_id or row.id), "alert_id": int(row.id), "identifier": row.identifier,
                    "sender": row.sender, "hazard": row.hazard, "level": row.level, "stage": stage,
                    "areas": svc.areas.names(codes), "area_phrase": svc.areas.phrase(codes),
                    "sent": _iso(row.sent), "expires": _iso(row.expires), "messages": chain,
                    "sent_at": row.sent, "expires_at": row.expires})
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@routes.get("/chains")
async def chains_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看在发预警")
    async with service(request).db.read() as conn:
        items = await in_force(request, conn)
    from alerts.chain import STAGE_ZH

    return render_page(request, "chains.html", sess, chains=items, stage_zh=STAGE_ZH)


@routes.get("/api/v1/chains")
async def chains_api(request: web.Request) -> web.Response:
    user = await api_user(request)
    svc = service(request)
    if not svc.policy.can(user, "view"):
        raise json_error(403, f"'{user.name}' may not view warning chains: it needs the view permission")
    async with svc.db.read() as conn:
        items = await in_force(request, conn)
    return web.json_response({"chains": [{k: v for k, v in c.items() if k not in ("sent_at", "expires_at",
                                                                                    "area_phrase")}
                                         for c in items]})
