"""号码查询: the duty officer answering a resident's call sees what was sent to the number, when, and how
it went. Numbers are masked except for roles with `view_phones`; every lookup is audited (masked).

The form posts (CSRF) and the answer is a redirect to a result page (post/redirect/get). The number
never appears in a URL (access logs): the query waits under a random key, for its own user only, for
ten minutes in this process; a result page opened later asks to look up again.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from alerts.recipients import mask_phone, normalise_phone
from alerts.store import phone_lookup
from alerts.web.auth import client_origin, service
from alerts.web.console import (
    NAV,
    NavLink,
    checked_form,
    redirect_with_flash,
    render_page,
    require_permission,
)
from alerts.web.delivery import REASON_ZH
from alerts.workflow import audit

routes = web.RouteTableDef()
if not any(link.href == "/lookup" for link in NAV):
    NAV.append(NavLink("/lookup", "号码查询", "lookup_phone"))

KEEP_SECONDS = 600
_LAST_DIGITS = re.compile(r"^[0-9]{4}$")


@dataclass
class _Query:
    user: str
    phone: str | None
    last_digits: str | None
    area: str | None
    until: float


_QUERIES: dict[str, _Query] = {}


def _keep(query: _Query) -> str:
    now = time.monotonic()
    for key in [k for k, q in _QUERIES.items() if q.until < now]:
        del _QUERIES[key]
    key = secrets.token_urlsafe(16)
    _QUERIES[key] = query
    return key


@routes.get("/lookup")
async def lookup_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "lookup_phone", "按号码查询发送记录")
    svc = service(request)
    townships = list(svc.areas.townships.values())
    key = request.query.get("q", "")
    query = _QUERIES.get(key)
    people: list[Any] | None = None
    asked = ""
    if key and (query is None or query.user != sess.user.name or query.until < time.monotonic()):
        return render_page(request, "lookup.html", sess, townships=townships, people=None, asked="", shown=None,
                           flash="这次查询已过期，请重新输入号码查询。", flash_kind="error", reason_zh=REASON_ZH)
    full = svc.policy.can(sess.user, "view_phones")
    if query is not None:
        async with svc.db.read() as conn:
            people = await phone_lookup.find(conn, phone=query.phone, last_digits=query.last_digits, area=query.area)
        names = {t.code: t.name for t in townships}
        asked = (mask_phone(query.phone) if not full else query.phone) if query.phone else \
            f"{names.get(query.area or '', '')} 尾号 {query.last_digits}"
    return render_page(request, "lookup.html", sess, townships=townships, people=people, asked=asked,
                       shown=(lambda p: p) if full else mask_phone, reason_zh=REASON_ZH,
                       names={t.code: t.name for t in townships}, full=full)


@routes.post("/lookup")
async def lookup(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "lookup_phone", "按号码查询发送记录")
    svc = service(request)
    raw = re.sub(r"[\s\-()]", "", str(form.get("phone", "")))
    area = str(form.get("township", "")) or None
    phone = last = None
    if _LAST_DIGITS.match(raw):
        if area not in svc.areas.townships:
            return redirect_with_flash(request, "/lookup", "只输入尾号 4 位时，请同时选择乡镇（街道）。", "error")
        last = raw
    else:
        phone = normalise_phone(raw) if raw else None
        if phone is None:
            return redirect_with_flash(request, "/lookup", "号码无法识别：请输入完整的 11 位手机号，或尾号 4 位并选择乡镇。",
                                       "error")
        area = None
    async with svc.db.read() as conn:
        people = await phone_lookup.find(conn, phone=phone, last_digits=last, area=area)
    async with svc.db.write() as conn:
        # Audited masked: the log is kept for ever, the number need not be.
        await audit.append(conn, at=svc.clock.now(), actor=sess.user.name, action="lookup.phone",
                           target=f"phone:{mask_phone(phone) if phone else '尾号' + (last or '')}",
                           origin=f"console:{client_origin(request)}",
                           after={"township": area, "people": len(people),
                                  "messages": sum(len(p.sent) for p in people)})
    key = _keep(_Query(sess.user.name, phone, last, area, time.monotonic() + KEEP_SECONDS))
    return web.Response(status=303, headers={"Location": f"/lookup?q={key}"})
