"""演练评估 (drill scorecard): after an exercise, how long each step took against its target, as one page
and as CSV. The 12379 practice is to reach the public within 10 minutes of the warning; the other
targets split those 10 minutes between the steps and give 叫应 its own 10 minutes (events.yaml)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from aiohttp import web

from alerts.store import drill_times
from alerts.web.auth import service
from alerts.web.console import render_page, require_permission
from alerts.web.console_words import when

routes = web.RouteTableDef()

# (step, Chinese name, from which step, target minutes from it)
STEPS = [
    ("drafted", "生成草稿", "received", 1),
    ("approved", "审批通过", "received", 5),
    ("first_sent", "开始发送", "approved", 1),
    ("reached", "95% 送达公众", "received", 10),
    ("acks_first", "首个叫应应答", "first_sent", 10),
    ("acks_all", "全部叫应应答", "first_sent", 30),
]
STEP_ZH = {"received": "收到预警", **{key: name for key, name, _f, _t in STEPS}}


def score(times: drill_times.Times) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"key": "received", "name": STEP_ZH["received"], "at": times.received,
                                   "since": None, "minutes": None, "target": None, "met": None}]
    for key, name, since, target in STEPS:
        at: datetime | None = getattr(times, key)
        start: datetime | None = getattr(times, since)
        minutes = round((at - start).total_seconds() / 60, 1) if at and start else None
        rows.append({"key": key, "name": name, "at": at, "since": STEP_ZH[since], "minutes": minutes,
                     "target": target, "met": None if minutes is None else minutes <= target})
    return rows


@routes.get("/reports/drafts/{id}/drill")
async def drill_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看演练评估")
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise web.HTTPNotFound(text="没有这一项。")
    svc = service(request)
    async with svc.db.read() as conn:
        times = await drill_times.drill_times(conn, int(raw))
    if times is None:
        raise web.HTTPNotFound(text=f"没有编号为 {raw} 的消息。")
    rows = score(times)
    now = svc.clock.now()
    if request.query.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["环节", "时间", "起算", "用时（分钟）", "目标（分钟）", "是否达标"])
        for r in rows:
            writer.writerow([r["name"], when(r["at"], now), r["since"] or "", "" if r["minutes"] is None else r["minutes"],
                             r["target"] or "", {True: "达标", False: "超时", None: ""}[r["met"]]])
        return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="drill-draft-{raw}.csv"'})
    return render_page(request, "drill.html", sess, draft_id=int(raw), rows=rows, times=times,
                       when=lambda dt: when(dt, now), share=int(drill_times.REACHED_SHARE * 100))
