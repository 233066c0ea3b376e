"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from alerts.store.migrate import current_revision, head_revision
from alerts.web.auth import service

routes = web.RouteTableDef()
BACKGROUND_KEY: web.AppKey = web.AppKey("background", object)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    svc = service(request)
    checks: dict[str, str] = {}
    try:
        rev = await current_revision(svc.db)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if rev == head_revision() else f"at {rev}, head is {head_revision()}: run alerts db upgrade"
    except Exception as exc:  # noqa: BLE001 - readiness reports the failure instead of raising
        checks["database"] = f"unreachable: {exc.__class__.__name__}"
        checks["migrations"] = "unknown"
    background = request.app.get(BACKGROUND_KEY)
    checks["scheduler"] = "ok" if background is not None and background.running else "not running"
    ok = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ok" if ok else "not ready", "checks": checks}, status=200 if ok else 503)
