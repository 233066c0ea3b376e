"""GET /metrics: Prometheus text, computed from the database at scrape time.

Who may read it: a scraper on the same host (requests from 127.0.0.1 or ::1, e.g. a local
Prometheus or node agent), or anyone with a bearer token of a user whose role has `view`
(e.g. a dedicated `observer` user for a remote Prometheus: `authorization: {credentials: TOKEN}`).
Metrics hold counts and timings only, never phone numbers or message text.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from alerts.metrics import render, snapshot
from alerts.web.auth import api_user, json_error, service

routes = web.RouteTableDef()


def is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address((request.remote or "").split("%")[0]).is_loopback
    except ValueError:
        return False


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    svc = service(request)
    # A forwarded request came through a proxy on this host: it is not local, whatever its socket says.
    if not is_loopback(request) or "X-Forwarded-For" in request.headers:
        user = await api_user(request)
        if not svc.policy.can(user, "view"):
            raise json_error(403, f"'{user.name}' may not read metrics: it needs a role with view (e.g. observer)")
    stale_after = {f.name: f.stale_after_seconds for f in svc.settings.feeds.feeds}
    async with svc.db.read() as conn:
        snap = await snapshot(conn, svc.clock.now(), stale_after)
    body = render(snap)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
