"""A person's own account: their API tokens (only they create them), password, sign-out everywhere.

Every signed-in person may use this page, whatever their roles: a machine account's operator
(role `source`, no `view`) signs in here once to create the token its system pushes with.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alerts.security import throttle
from alerts.store import accounts as account_store
from alerts.store import users as user_store
from alerts.textclean import clean
from alerts.web.auth import DEVICE_COOKIE, check_csrf, client_origin, service
from alerts.web.console import redirect_with_flash, render_page, require_session
from alerts.web.console_errors import refusal_zh
from alerts.web.guards import parse_id
from alerts.workflow import audit
from alerts.workflow.policy import Refused

routes = web.RouteTableDef()


async def _page(request: web.Request, sess: user_store.Session, *, flash: str | None = None,
                flash_kind: str | None = None, secret: str | None = None, status: int = 200) -> web.Response:
    svc = service(request)
    if request.method == "POST" and secret is None and flash and flash_kind is None and status == 200:
        # post/redirect/get after a success (a refusal keeps its status code); only a new token's secret is
        # shown in the POST's own answer (never stored).
        return redirect_with_flash(request, "/account", flash, flash_kind)
    async with svc.db.read() as conn:
        tokens = await user_store.tokens_of(conn, sess.user.id)
        devices = await account_store.device_count(conn, sess.user.id)
    return render_page(request, "account.html", sess, status=status, tokens=tokens, devices=devices, flash=flash,
                       flash_kind=flash_kind, secret=secret)


async def _form(request: web.Request) -> tuple[user_store.Session, Any]:
    sess = await require_session(request)
    form = await request.post()
    check_csrf(sess, str(form.get("csrf", "")))
    return sess, form


def _origin(request: web.Request) -> str:
    return f"console:{client_origin(request)}"


@routes.get("/account")
async def account_page(request: web.Request) -> web.Response:
    return await _page(request, await require_session(request))


@routes.post("/account/tokens")
async def create_token(request: web.Request) -> web.Response:
    """The signed-in person creates a token for themselves; it is shown once."""
    sess, form = await _form(request)
    label = clean(str(form.get("label", "")), one_line=True).strip()[:100] or "api"
    svc = service(request)
    now = svc.clock.now()
    async with svc.db.write() as conn:
        token = await user_store.create_token(conn, sess.user, label, at=now)
        await audit.append(conn, at=now, actor=sess.user.name, action="token.created",
                           target=f"user:{sess.user.name}", origin=_origin(request), after={"label": label})
    return await _page(request, sess, flash=f"已创建令牌（{label}）。", secret=token)


@routes.post("/account/tokens/{id}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    sess, _form_data = await _form(request)
    svc = service(request)
    token_id = parse_id(request.match_info["id"]) or -1
    now = svc.clock.now()
    async with svc.db.write() as conn:
        ok = await user_store.revoke_token(conn, token_id, user_id=sess.user.id)
        if ok:
            await audit.append(conn, at=now, actor=sess.user.name, action="token.revoked",
                               target=f"user:{sess.user.name}", origin=_origin(request), after={"token": token_id})
    if not ok:
        return await _page(request, sess, flash="没有这个有效令牌。", flash_kind="error", status=404)
    return await _page(request, sess, flash=f"已撤销令牌 {token_id}。")


@routes.post("/account/password")
async def change_password(request: web.Request) -> web.Response:
    sess, form = await _form(request)
    svc = service(request)
    password = str(form.get("password", ""))[:2000]
    # Guessing the current password from a stolen session is slowed like any sign-in.
    attempt = throttle.Attempt(sess.user.name, client_origin(request), None)
    now = svc.clock.now()
    async with svc.db.read() as conn:
        wait = await throttle.wait_seconds(conn, attempt, now=now)
        outcome = await user_store.check_login(conn, sess.user.name, str(form.get("current", ""))[:1024]) \
            if not wait else None
    if outcome is None:
        return await _page(request, sess, flash=f"密码错误次数较多，请 {wait} 秒后再试。", flash_kind="error", status=429)
    if outcome.user is None:
        async with svc.db.write() as conn:
            await throttle.failed(conn, attempt, svc.settings.service.session, now=now)
        return await _page(request, sess, flash="当前密码不正确。", flash_kind="error", status=403)
    if password != str(form.get("password2", "")):
        return await _page(request, sess, flash="两次输入的新密码不一致。", flash_kind="error", status=400)
    problem = user_store.password_problem(password, sess.user.name)
    if problem:
        return await _page(request, sess, flash=f"未修改：{refusal_zh(Refused(problem, 400))}", flash_kind="error",
                           status=400)
    async with svc.db.write() as conn:
        await user_store.set_password(conn, sess.user.id, password)
        ended = await user_store.end_sessions(conn, sess.user.id, keep=sess.id_hash)
        await audit.append(conn, at=now, actor=sess.user.name, action="user.password_changed",
                           target=f"user:{sess.user.name}", origin=_origin(request), after={"sessions_ended": ended})
    return await _page(request, sess, flash="密码已修改，其他设备上的登录已退出。")


@routes.post("/account/signout-all")
async def sign_out_everywhere(request: web.Request) -> web.Response:
    """Every session of this person ends, this one too; optionally the remembered devices are forgotten."""
    sess, form = await _form(request)
    svc = service(request)
    now = svc.clock.now()
    forget = form.get("forget_devices") == "1"
    async with svc.db.write() as conn:
        ended = await user_store.end_sessions(conn, sess.user.id)
        forgotten = await account_store.forget_devices(conn, sess.user.id) if forget else 0
        await audit.append(conn, at=now, actor=sess.user.name, action="user.signed_out_everywhere",
                           target=f"user:{sess.user.name}", origin=_origin(request),
                           after={"sessions_ended": ended, "devices_forgotten": forgotten})
    response = web.HTTPSeeOther("/login")
    response.del_cookie("alerts_session", path="/")
    if forget:
        response.del_cookie(DEVICE_COOKIE, path="/")
    raise response

