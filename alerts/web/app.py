"""The aiohttp application: routes from every web module, error handling and security headers."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

import alerts.web
from alerts.app import Service
from alerts.web.auth import SERVICE_KEY
from alerts.web.guards import guards

log = logging.getLogger("alerts.web")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Never show a traceback: log it with a reference, answer with a clear message."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        import secrets

        ref = secrets.token_hex(4)
        log.exception("unhandled error %s on %s %s", ref, request.method, request.path)
        if request.path.startswith("/api/"):
            return web.json_response({"error": f"internal error (reference {ref}); the operator can find it in the log"},
                                     status=500)
        return web.Response(text=f"系统内部错误（编号 {ref}），请联系值班管理员。", status=500)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
    if not request.path.startswith(("/static/", "/feeds/")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def route_modules() -> list[object]:
    """Every module of alerts.web that defines `routes` (a RouteTableDef) serves its routes."""
    found = []
    for info in pkgutil.iter_modules(alerts.web.__path__):
        module = importlib.import_module(f"alerts.web.{info.name}")
        if isinstance(getattr(module, "routes", None), web.RouteTableDef):
            found.append(module)
    return found


def make_app(service: Service) -> web.Application:
    app = web.Application(middlewares=[errors, security_headers, guards],
                          client_max_size=service.settings.service.http.max_body_bytes)
    app[SERVICE_KEY] = service
    for module in route_modules():
        app.add_routes(module.routes)
    app.router.add_static("/static/", Path(__file__).parent / "static")
    return app
