"""月度统计: a month's warnings, approved messages, delivery rates and people reached by audience (五进),
and campaign reach per township — the figures a 科协 annual report asks for — as a page and CSV."""

from __future__ import annotations

import csv
import io
import re

from aiohttp import web

from alerts.store import monthly_stats
from alerts.web.auth import service
from alerts.web.console import AUDIENCE_ZH, KIND_ZH, NAV, NavLink, render_page, require_permission

routes = web.RouteTableDef()
if not any(link.href == "/reports/monthly" for link in NAV):
    NAV.append(NavLink("/reports/monthly", "月度统计"))
_MONTH = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
FIGURE_ZH = {"received": "收到", "approved": "批准发送", "intended": "应发", "reached": "已发出", "delivered": "已送达",
             "failed": "失败", "people": "覆盖人数"}
SECTION_ZH = {"warnings": "预警", "drafts": "消息", "audience": "对象", "campaign_township": "宣传活动·乡镇"}


def _month(request: web.Request) -> tuple[int, int]:
    raw = request.query.get("month", "")
    found = _MONTH.match(raw)
    if found:
        return int(found.group(1)), int(found.group(2))
    if raw:
        raise web.HTTPBadRequest(text=f"月份格式应为 2026-07 这样的年-月：{raw[:20]}")
    from alerts.clock import SHANGHAI

    now = service(request).clock.now().astimezone(SHANGHAI)
    return now.year, now.month


@routes.get("/reports/monthly")
async def monthly_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看月度统计")
    year, month = _month(request)
    svc = service(request)
    async with svc.db.read() as conn:
        stats = await monthly_stats.month_stats(conn, year, month)
    names = {t.code: t.name for t in svc.areas.townships.values()}
    names["test"] = "演练号码"
    level_zh = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色", "none": "无级别"}
    if request.query.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["月份", "类别", "项目", "指标", "数值"])
        for r in monthly_stats.as_rows(stats):
            key = {"warnings": level_zh, "drafts": KIND_ZH, "audience": AUDIENCE_ZH,
                   "campaign_township": names}[r["section"]].get(r["key"], r["key"])
            writer.writerow([f"{year}-{month:02d}", SECTION_ZH[r["section"]], key, FIGURE_ZH[r["figure"]], r["value"]])
        return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="monthly-{year}-{month:02d}.csv"'})
    previous = f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}"
    following = f"{year + (month == 12)}-{month % 12 + 1:02d}"
    return render_page(request, "monthly.html", sess, stats=stats, year=year, month=month, names=names,
                       level_names=level_zh, previous=previous, following=following)
