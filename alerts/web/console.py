"""The approval console: the queue, and the page helpers every console module shares.

Pages are server-rendered in Simplified Chinese and usable on a phone. Every route checks the
session and the permission it needs on the server; the page only hides what is refused anyway.
Sign-in, sign-out and enrolment are in console_login, a person's own account in console_account.
Other console modules (console_drafts, console_reports, console_admin, ...) add their own routes
and may add a link to the navigation with `NAV.append(NavLink(...))`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from alerts.content.hazards import default_hazards
from alerts.model import LEVEL_ZH, Level
from alerts.recipients import mask_phone
from alerts.store import drafts as draft_store
from alerts.store import problems as problem_store
from alerts.store import users as user_store
from alerts.web.auth import check_csrf, console_session, service, set_cookie
from alerts.web.console_words import action_zh, actor_zh, origin_zh, target_zh, when

log = logging.getLogger("alerts.console")
routes = web.RouteTableDef()
TEMPLATES = Path(__file__).parent / "templates"

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)
_env.filters["mask_phone"] = lambda p: mask_phone(p) if p else ""

STATE_ZH = {"pending": "待审批", "approved": "已批准", "dispatching": "发送中", "sent": "已发送",
            "partly_failed": "部分失败", "rejected": "已驳回", "expired": "已过期", "superseded": "已被替代",
            "withdrawn": "已撤回", "queued": "排队", "in_flight": "发送中", "delivered": "已送达",
            "failed": "失败", "suppressed": "已免发"}
KIND_ZH = {"warning": "预警科普", "update": "预警更新", "all_clear": "解除提示", "correction": "更正",
           "campaign": "宣传活动", "policy": "政策解读", "rumour_response": "辟谣回应"}
AUDIENCE_ZH = {"residents": "居民", "schools": "学校", "enterprises": "企业", "villages": "村（社区）干部",
               "communities": "社区", "elderly": "老年人", "families": "家庭", "volunteers": "科技志愿服务队",
               "media": "媒体"}
CHANNEL_ZH = {"sms": "短信", "notice": "通知", "im": "工作群", "voice": "语音（电话、广播）", "email": "邮件"}
ROLE_ZH = {"approver": "审批人", "editor": "编辑", "expert": "专家", "campaigner": "活动发起人", "source": "数据源",
           "observer": "观察员", "admin": "管理员", "department": "成员单位", "publicity": "宣传部",
           "coordinator": "事件协调"}


@dataclass(frozen=True)
class NavLink:
    href: str
    label: str
    permission: str = "view"


# The navigation; another console module adds its page with NAV.append(NavLink("/x", "名称", "perm")).
NAV: list[NavLink] = [
    NavLink("/", "待审队列"),
    NavLink("/sent", "已发消息"),
    NavLink("/templates", "模板库"),
    NavLink("/feeds", "数据源"),
    NavLink("/audit", "审计日志", "view_audit"),
    NavLink("/admin/users", "用户", "manage_users"),
]


def minutes_since(request: web.Request, dt: Any) -> int:
    if dt is None:
        return 0
    return max(0, int((service(request).clock.now() - dt).total_seconds() // 60))


def render(request: web.Request, name: str, sess: user_store.Session | None = None, **ctx: Any) -> str:
    svc = service(request)
    nav = [n for n in NAV if sess is not None and svc.policy.can(sess.user, n.permission)]
    base: dict[str, Any] = {
        "service_name": svc.settings.service.name, "user": sess.user if sess else None,
        "csrf": sess.csrf if sess else "", "flash": None, "flash_kind": None, "nav": nav, "path": request.path,
        "local": lambda dt: when(dt, svc.clock.now()), "action_zh": action_zh, "actor_zh": actor_zh, "target_zh": target_zh,
        "origin_zh": origin_zh, "level_zh": {lv.value: LEVEL_ZH[lv] for lv in Level},
        "hazard_zh": {k: h.zh for k, h in default_hazards().items()}, "state_zh": STATE_ZH, "kind_zh": KIND_ZH,
        "audience_zh": AUDIENCE_ZH, "channel_zh": CHANNEL_ZH, "role_zh": ROLE_ZH,
        "waited": lambda dt: minutes_since(request, dt),
    }
    base.update(ctx)
    return _env.get_template(name).render(**base)


# Post/redirect/get: a POST answers 303 with its outcome in this short cookie, shown once by the next page,
# so that refreshing the page after a decision never sends the form again.
FLASH_COOKIE = "alerts_flash"


def redirect_with_flash(request: web.Request, location: str, flash: str, kind: str | None = None) -> web.Response:
    response = web.Response(status=303, headers={"Location": location})
    set_cookie(request, response, FLASH_COOKIE, json.dumps([flash, kind]).encode().hex(), max_age=120)
    return response


def _take_flash(request: web.Request) -> tuple[str, str | None] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        text, kind = json.loads(bytes.fromhex(raw).decode())
        return str(text), (str(kind) if kind else None)
    except (ValueError, TypeError):
        return None


def render_page(request: web.Request, name: str, sess: user_store.Session | None = None, status: int = 200,
                **ctx: Any) -> web.Response:
    flash = _take_flash(request) if FLASH_COOKIE in request.cookies else None
    if flash is not None and not ctx.get("flash") and not name.startswith("_"):
        ctx["flash"], ctx["flash_kind"] = flash
    response = web.Response(text=render(request, name, sess, **ctx), content_type="text/html", status=status)
    if FLASH_COOKIE in request.cookies and not name.startswith("_"):
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


def forbidden(request: web.Request, sess: user_store.Session, message: str) -> web.HTTPForbidden:
    html = render(request, "message.html", sess, title="无权操作", message=message)
    return web.HTTPForbidden(text=html, content_type="text/html")


async def require_session(request: web.Request) -> user_store.Session:
    sess = await console_session(request)
    if sess is None:
        raise web.HTTPSeeOther("/login")
    return sess


async def require_permission(request: web.Request, permission: str, what: str) -> user_store.Session:
    """The session, if its user holds `permission`; otherwise a 403 page saying which roles would."""
    sess = await require_session(request)
    svc = service(request)
    if not svc.policy.can(sess.user, permission):
        roles = "、".join(ROLE_ZH.get(r, r) for r in svc.policy.roles_with(permission)) or "（未配置）"
        raise forbidden(request, sess, f"您的角色不能{what}。需要以下角色之一：{roles}。")
    return sess


async def checked_form(request: web.Request, permission: str, what: str) -> tuple[user_store.Session, Any]:
    """For every POST: session, permission, and the CSRF token of the form."""
    sess = await require_permission(request, permission, what)
    form = await request.post()
    check_csrf(sess, str(form.get("csrf", "")))
    return sess, form


# Who may mark an operator problem handled: the people on duty (approvers) and administrators.
RESOLVE_PROBLEM_PERMISSIONS = ("approve", "manage_settings")


def may_resolve_problems(request: web.Request, user: Any) -> bool:
    policy = service(request).policy
    return any(policy.can(user, p) for p in RESOLVE_PROBLEM_PERMISSIONS)


async def _queue_rows(request: web.Request, sess: user_store.Session) -> dict[str, Any]:
    """What the queue shows: open operator problems above the pending drafts, then recent decisions."""
    async with service(request).db.read() as conn:
        pending = await draft_store.list_drafts(conn, state="pending", limit=200)
        recent = [r for r in await draft_store.list_drafts(conn, limit=30) if r.state != "pending"]
        problems = await problem_store.open_problems(conn, limit=20)
    return {"pending": pending, "recent": recent, "problems": problems, "now": service(request).clock.now(),
            "can_resolve": may_resolve_problems(request, sess.user)}


@routes.get("/")
async def queue(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看消息队列")
    return render_page(request, "queue.html", sess, **await _queue_rows(request, sess))


@routes.get("/queue/items")
async def queue_items(request: web.Request) -> web.Response:
    """The queue's list alone, for the page's short-polling refresh (console.js)."""
    sess = await require_permission(request, "view", "查看消息队列")
    return render_page(request, "_queue_items.html", sess, **await _queue_rows(request, sess))
