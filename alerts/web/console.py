"""The approval console: server-rendered pages in Simplified Chinese, usable on a phone."""

from __future__ import annotations

import hmac
import logging
import secrets
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from alerts.clock import local
from alerts.content.hazards import default_hazards
from alerts.model import LEVEL_ZH, Level
from alerts.outbox.fanout import count_for_draft
from alerts.store import alerts as alert_store
from alerts.store import drafts as draft_store
from alerts.store import users as user_store
from alerts.web.auth import SESSION_COOKIE, check_csrf, client_origin, console_session, service
from alerts.web.views import message_json
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused
from alerts.workflow.states import TransitionError

log = logging.getLogger("alerts.console")
routes = web.RouteTableDef()
LOGIN_CSRF_COOKIE = "alerts_login_csrf"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined,
)

STATE_ZH = {"pending": "待审批", "approved": "已批准", "dispatching": "发送中", "sent": "已发送",
            "partly_failed": "部分失败", "rejected": "已驳回", "expired": "已过期", "superseded": "已被替代",
            "withdrawn": "已撤回", "queued": "排队", "in_flight": "发送中", "delivered": "已送达",
            "failed": "失败", "suppressed": "已免发"}
KIND_ZH = {"warning": "预警科普", "update": "预警更新", "all_clear": "解除提示", "correction": "更正",
           "campaign": "宣传活动"}
AUDIENCE_ZH = {"residents": "居民", "schools": "学校", "enterprises": "企业", "villages": "村（社区）干部",
               "communities": "社区", "elderly": "老年人"}
CHANNEL_ZH = {"sms": "短信", "notice": "通知", "im": "工作群", "voice": "广播稿", "email": "邮件"}


def render_page(request: web.Request, name: str, status: int = 200, **ctx: Any) -> web.Response:
    svc = service(request)
    base = {
        "service_name": svc.settings.service.name, "user": None, "csrf": "", "flash": None, "flash_kind": None,
        "local": local, "level_zh": {lv.value: LEVEL_ZH[lv] for lv in Level},
        "hazard_zh": {k: h.zh for k, h in default_hazards().items()}, "state_zh": STATE_ZH, "kind_zh": KIND_ZH,
        "audience_zh": AUDIENCE_ZH, "channel_zh": CHANNEL_ZH,
    }
    base.update(ctx)
    html = _env.get_template(name).render(**base)
    return web.Response(text=html, content_type="text/html", status=status)


async def require_session(request: web.Request) -> user_store.Session:
    sess = await console_session(request)
    if sess is None:
        raise web.HTTPSeeOther("/login")
    return sess


def _set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=request.secure, path="/", max_age=max_age)


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render_page(request, "login.html", login_csrf=token)
    _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    svc = service(request)
    form = await request.post()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="表单已失效或缺少校验码（CSRF），请刷新登录页后重试。")
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    conf = svc.settings.service.session
    async with svc.db.write() as conn:
        outcome = await user_store.check_login(conn, name, password, now=svc.clock.now(),
                                               max_failures=conf.max_failed_logins,
                                               lockout_seconds=conf.lockout_minutes * 60)
        if outcome.user is None:
            log.warning("console login failed for %r from %s: %s", name[:50], client_origin(request), outcome.reason)
            token = secrets.token_urlsafe(24)
            response = render_page(request, "login.html", status=401, login_csrf=token, flash_kind="error",
                                   flash="用户名或密码不正确，或账号已暂时锁定。连续失败多次后需等待几分钟。")
            _set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
            return response
        cookie, _csrf = await user_store.create_session(conn, outcome.user, at=svc.clock.now())
    response = web.HTTPSeeOther("/")
    _set_cookie(request, response, SESSION_COOKIE, cookie)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    sess = await require_session(request)
    form = await request.post()
    check_csrf(sess, str(form.get("csrf", "")))
    svc = service(request)
    async with svc.db.write() as conn:
        await user_store.end_session(conn, sess.id_hash)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/")
async def queue(request: web.Request) -> web.Response:
    sess = await require_session(request)
    svc = service(request)
    if not svc.policy.can(sess.user, "view"):
        raise web.HTTPForbidden(text="您的角色不能查看消息队列。")
    async with svc.db.read() as conn:
        rows = await draft_store.list_drafts(conn, limit=200)
    return render_page(request, "queue.html", user=sess.user, csrf=sess.csrf, drafts=rows)


async def _draft_page(request: web.Request, sess: user_store.Session, draft_id: int, *, flash: str | None = None,
                      flash_kind: str | None = None, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        if record is None:
            raise web.HTTPNotFound(text=f"没有编号为 {draft_id} 的消息。")
        alert_row = await alert_store.get(conn, record.row.alert_id) if record.row.alert_id else None
        counts = await count_for_draft(conn, draft_id)
    signature = svc.settings.service.sms.signature
    return render_page(
        request, "draft.html", status=status, user=sess.user, csrf=sess.csrf, d=record.row,
        messages=[message_json(m, signature) for m in record.messages], alert=alert_row, counts=counts,
        policy=svc.policy.verdict(record.row, record.messages).explanation,
        can_approve=svc.policy.can(sess.user, "approve"), flash=flash, flash_kind=flash_kind,
    )


def _id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise web.HTTPNotFound(text="没有这条消息。") from None


@routes.get("/drafts/{id}")
async def draft_page(request: web.Request) -> web.Response:
    sess = await require_session(request)
    if not service(request).policy.can(sess.user, "view"):
        raise web.HTTPForbidden(text="您的角色不能查看消息。")
    return await _draft_page(request, sess, _id(request))


async def _decide(request: web.Request, act: Any, done: str) -> web.Response:
    sess = await require_session(request)
    form = await request.post()
    check_csrf(sess, str(form.get("csrf", "")))
    draft_id = _id(request)
    try:
        await act(sess.user, draft_id, form)
    except NotFound:
        raise web.HTTPNotFound(text=f"没有编号为 {draft_id} 的消息。") from None
    except (Refused, TransitionError) as exc:
        status = exc.status if isinstance(exc, Refused) else 409
        return await _draft_page(request, sess, draft_id, flash=f"未执行：{exc}", flash_kind="error", status=status)
    return await _draft_page(request, sess, draft_id, flash=done)


@routes.post("/drafts/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> None:
        await svc.actions.approve(user, draft_id, origin=f"console:{client_origin(request)}")
        wake = request.app.get(_wake_key())
        if wake is not None:
            wake()

    return await _decide(request, act, "已批准，正在发送。")


@routes.post("/drafts/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> None:
        await svc.actions.reject(user, draft_id, str(form.get("reason", "")), origin=f"console:{client_origin(request)}")

    return await _decide(request, act, "已驳回。")


def _wake_key() -> web.AppKey:
    from alerts.web.api import OUTBOX_WAKE_KEY

    return OUTBOX_WAKE_KEY
