"""Console pages to look things up: sent messages with delivery counts, feed health, templates, audit log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alerts.store import drafts as draft_store
from alerts.store import feeds as feed_store
from alerts.web.auth import service
from alerts.web.console import render_page, require_permission
from alerts.web.template_examples import EXAMPLE_AREAS, EXAMPLE_ISSUER, example
from alerts.workflow import audit

routes = web.RouteTableDef()
SENT_STATES = ("approved", "dispatching", "sent", "partly_failed", "withdrawn")
TEMPLATE_STATUS_ZH = {"reviewed": "已审核", "changed": "审核后被修改", "unreviewed": "未审核"}


@routes.get("/sent")
async def sent(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看已发消息")
    async with service(request).db.read() as conn:
        rows = await draft_store.list_drafts(conn, states=SENT_STATES, limit=200)
        counts = await draft_store.delivery_counts(conn, [r.id for r in rows])
    return render_page(request, "sent.html", sess, rows=rows, counts=counts)


@routes.get("/feeds")
async def feeds(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看数据源状态")
    svc = service(request)
    async with svc.db.read() as conn:
        stored = {f.name: f for f in await feed_store.all_feeds(conn)}
    items: list[dict[str, Any]] = []
    for feed in svc.settings.feeds.feeds:
        row = stored.get(feed.name)
        if not feed.enabled:
            health = ("off", "已停用")
        elif row is None or row.last_attempt_at is None:
            health = ("unknown", "尚未运行")
        elif row.consecutive_failures:
            health = ("bad", f"连续失败 {row.consecutive_failures} 次")
        else:
            health = ("ok", "正常")
        items.append({"config": feed, "row": row, "health": health})
    names = {f.name for f in svc.settings.feeds.feeds}
    for name, row in stored.items():  # e.g. pushed sources, or feeds removed from the config
        if name not in names:
            items.append({"config": None, "name": name, "row": row,
                          "health": ("bad", f"连续失败 {row.consecutive_failures} 次") if row.consecutive_failures
                          else ("ok", "正常")})
    return render_page(request, "feeds.html", sess, items=items)


@routes.get("/templates")
async def templates(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看模板库")
    svc = service(request)
    wanted = request.query.get("status", "")
    every = sorted(svc.library.templates, key=lambda t: (t.hazard, t.stage, t.audience, t.channel, t.id))
    totals = {s: sum(1 for t in every if t.status == s) for s in TEMPLATE_STATUS_ZH}
    shown = [t for t in every if not wanted or t.status == wanted]
    examples = {t.id: example(t) for t in shown}
    return render_page(request, "templates.html", sess, templates=shown, totals=totals, wanted=wanted,
                       status_zh=TEMPLATE_STATUS_ZH, problems=svc.library.problems, examples=examples,
                       example_note=f"{EXAMPLE_ISSUER}发布的橙色预警、{'、'.join(EXAMPLE_AREAS)}")


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view_audit", "查看审计日志")
    target = request.query.get("target") or None
    async with service(request).db.read() as conn:
        check = await audit.verify(conn)
        entries = await audit.recent(conn, limit=300, target=target)
    return render_page(request, "audit.html", sess, entries=entries, check=check, target=target or "")
