"""GET /metrics: Prometheus text, computed from the database at scrape time.

Who may read it: whoever sends the scrape token (`Authorization: Bearer $ALERTS_METRICS_TOKEN`,
in Prometheus `authorization: {credentials_file: ...}`), or a bearer token of a user whose role
has `view`. Being on the same host is no credential: every local process (and anything a proxy
on this host forwards) would pass. Metrics hold counts and timings only, never phone numbers
or message text.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from alerts.metrics import render, snapshot
from alerts.web.auth import api_user, json_error, service

routes = web.RouteTableDef()


def scrape_token_sent(request: web.Request, expected: str | None) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                                  str(expected).encode())


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    svc = service(request)
    if not scrape_token_sent(request, svc.settings.secrets.metrics_token):
        user = await api_user(request)
        if not svc.policy.can(user, "view"):
            raise json_error(403, f"'{user.name}' may not read metrics: it needs a role with view (e.g. observer), "
                                  "or send the scrape token ALERTS_METRICS_TOKEN")
    stale_after = {f.name: f.stale_after_seconds for f in svc.settings.feeds.feeds}
    async with svc.db.read() as conn:
        snap = await snapshot(conn, svc.clock.now(), stale_after)
    body = render(snap)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
