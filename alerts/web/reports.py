"""Delivery reports after the fact (投递报告): per message (draft) and per event, by township and village,
with a small bar chart (inline SVG), and the same figures as CSV, JSON and a printable A4 page.

Every route needs `view`; they only read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from typing import Any

from aiohttp import web

from alerts.events import store as event_store
from alerts.store import delivery_report
from alerts.store import drafts as draft_store
from alerts.web.auth import service
from alerts.web.console import AUDIENCE_ZH, KIND_ZH, render_page, require_permission
from alerts.web.console_words import when
from alerts.web.delivery import REASON_ZH

routes = web.RouteTableDef()
FORMATS = ("html", "csv", "json", "print")
CSV_COLUMNS = [("township", "乡镇"), ("village", "村（社区）"), ("intended", "应发"), ("sent", "已发出"),
               ("delivered", "已送达"), ("failed", "失败"), ("waiting", "尚未完成"), ("opted_out", "已退订"),
               ("ack_asked", "叫应单位"), ("acknowledged", "已应答"), ("failed_by_reason", "失败原因")]
CHART_WIDTH = 300  # the bars' drawing width in the SVG's own units; the SVG scales to the screen


def _id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise web.HTTPNotFound(text="没有这一项。")
    return int(raw)


def _format(request: web.Request) -> str:
    wanted = request.query.get("format", "html")
    if wanted not in FORMATS:
        raise web.HTTPBadRequest(text=f"不支持的格式：{wanted[:20]}。可选：网页、CSV、JSON、打印版。")
    return wanted


def reasons_zh(reasons: dict[str, int]) -> str:
    return "；".join(f"{REASON_ZH.get(code, '其他原因（代码 ' + code + '）')} {n}" for code, n in sorted(reasons.items()))


def chart(report: delivery_report.Report, names: dict[str, str]) -> dict[str, Any]:
    """Stacked bars per township: delivered, sent without receipt, waiting, failed — scaled to the largest."""
    biggest = max((t.intended for t in report.townships), default=0) or 1
    bars = []
    for i, t in enumerate(report.townships):
        parts = []
        x = 0.0
        for value, css in ((t.delivered, "delivered"), (t.sent - t.delivered, "sent"), (t.waiting, "waiting"),
                           (t.failed + t.opted_out, "failed")):
            w = CHART_WIDTH * value / biggest
            if w > 0:
                parts.append({"x": round(x, 1), "w": round(w, 1), "css": css, "n": value})
            x += w
        bars.append({"y": i * 26, "name": names.get(t.area, t.area), "parts": parts, "intended": t.intended,
                     "text_x": round(x + 4, 1)})
    return {"bars": bars, "height": max(26 * len(bars), 26), "width": CHART_WIDTH}


def _names(request: web.Request) -> dict[str, str]:
    names = {t.code: t.name for t in service(request).areas.townships.values()}
    names["test"] = "演练号码"
    names[""] = "未知乡镇"
    return names


def _row_dict(r: delivery_report.Row, names: dict[str, str]) -> dict[str, Any]:
    out = asdict(r)
    out["township"] = names.get(r.area, r.area)
    return out


def _answer(request: web.Request, sess: Any, fmt: str, report: delivery_report.Report, subject: dict[str, Any],
            filename: str) -> web.Response:
    names = _names(request)
    if fmt == "json":
        plain = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in subject.items()}
        body = {"subject": plain, "drafts": report.draft_ids,
                "first_sent_at": report.first_sent_at.isoformat() if report.first_sent_at else None,
                "last_sent_at": report.last_sent_at.isoformat() if report.last_sent_at else None,
                "total": _row_dict(report.total, names),
                "townships": [_row_dict(t, names) for t in report.townships],
                "villages": [_row_dict(r, names) for r in report.rows]}
        return web.json_response(body, dumps=lambda v: json.dumps(v, ensure_ascii=False),
                                 headers={"Content-Disposition": f'attachment; filename="{filename}.json"'})
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([label for _key, label in CSV_COLUMNS])
        for r in [*report.rows, report.total]:
            d = _row_dict(r, names)
            if r is report.total:
                d["township"], d["village"] = "合计", ""
            d["failed_by_reason"] = reasons_zh(r.failed_by_reason)
            writer.writerow([d[key] for key, _label in CSV_COLUMNS])
        # A byte-order mark so that spreadsheet programs read the Chinese as UTF-8.
        return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv",
                            charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
    now = service(request).clock.now()
    template = "report_print.html" if fmt == "print" else "report.html"
    return render_page(request, template, sess, report=report, subject=subject, names=names, chart=chart(report, names),
                       reasons_zh=reasons_zh, when=lambda dt: when(dt, now), printed_at=when(now, now),
                       base_url=request.path)


async def _draft_subject(request: web.Request, draft_id: int) -> tuple[dict[str, Any], list[int]]:
    async with service(request).db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    if record is None:
        raise web.HTTPNotFound(text=f"没有编号为 {draft_id} 的消息。")
    d = record.row
    audiences = sorted({AUDIENCE_ZH.get(m.audience, "其他") for m in record.messages})
    return ({"kind": "draft", "id": d.id, "title": f"消息 #{d.id}", "hazard": d.hazard, "level": d.level,
             "what": KIND_ZH.get(d.kind, "消息"), "state": d.state, "decided_at": d.decided_at,
             "audiences": audiences, "exercise": bool(d.exercise)}, [draft_id])


@routes.get("/reports/drafts/{id}")
async def draft_report(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看投递报告")
    fmt = _format(request)
    draft_id = _id(request)
    subject, ids = await _draft_subject(request, draft_id)
    async with service(request).db.read() as conn:
        report = await delivery_report.build(conn, ids)
    return _answer(request, sess, fmt, report, subject, f"delivery-draft-{draft_id}")


@routes.get("/reports/events/{id}")
async def event_report(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看投递报告")
    fmt = _format(request)
    event_id = _id(request)
    async with service(request).db.read() as conn:
        event = await event_store.get_event(conn, event_id)
        if event is None:
            raise web.HTTPNotFound(text=f"没有编号为 {event_id} 的事件。")
        ids = await delivery_report.event_draft_ids(conn, event_id)
        report = await delivery_report.build(conn, ids, event_id=event_id)
    subject = {"kind": "event", "id": event_id, "title": event.title, "hazard": event.hazard, "level": event.level,
               "what": "事件", "state": event.state, "decided_at": event.opened_at, "audiences": [],
               "exercise": False}
    return _answer(request, sess, fmt, report, subject, f"delivery-event-{event_id}")
