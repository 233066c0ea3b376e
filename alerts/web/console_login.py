"""Signing in and out of the console, and enrolment: a person sets their own password with a one-time link.

Wrong passwords are slowed down, never locked (alerts/security/throttle.py); a browser its owner
signed in from before is remembered (an HttpOnly cookie) so the owner gets in during an attack.
The response to a wrong password is the same, and costs the same work, whether the name exists.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta
from typing import Any

from aiohttp import web

from alerts.security import accounts, throttle
from alerts.store import accounts as account_store
from alerts.store import users as user_store
from alerts.web.auth import (
    DEVICE_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    client_origin,
    service,
    set_cookie,
)
from alerts.web.console import render_page, require_session

log = logging.getLogger("alerts.console")
routes = web.RouteTableDef()
LOGIN_CSRF_COOKIE = "alerts_login_csrf"


def _form_page(request: web.Request, template: str, status: int = 200, **ctx: Any) -> web.Response:
    """A page with a form for someone not signed in: its CSRF token lives in a short cookie."""
    token = secrets.token_urlsafe(24)
    response = render_page(request, template, status=status, login_csrf=token, **ctx)
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


def _check_form_csrf(request: web.Request, form: Any) -> None:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text="表单已失效或缺少校验码（CSRF），请刷新页面后重试。")


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _form_page(request, "login.html")


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    svc = service(request)
    form = await request.post()
    _check_form_csrf(request, form)
    name = str(form.get("name", "")).strip()[:200]
    password = str(form.get("password", ""))[:1024]
    conf = svc.settings.service.session
    now = svc.clock.now()
    client = client_origin(request)
    async with svc.db.read() as conn:
        device = await account_store.device_owner(conn, request.cookies.get(DEVICE_COOKIE, "")[:200],
                                                  not_before=now - timedelta(days=conf.remember_device_days))
        owner = await user_store.by_name(conn, name) if device else None
        known = device is not None and owner is not None and owner.id == device[0]
        attempt = throttle.Attempt(name, client, device[1] if known and device else None)
        wait = await throttle.wait_seconds(conn, attempt, now=now)
        outcome = await user_store.check_login(conn, name, password) if not wait else None
    if outcome is None:
        log.warning("console login for %r from %s: waiting %d s after wrong passwords", name[:50], client, wait)
        response = _form_page(request, "login.html", status=429, flash_kind="error",
                              flash=f"密码错误次数较多，请 {wait} 秒后再试。在本人曾登录过的设备上不受影响；"
                                    "如忘记密码请联系管理员重置。")
        response.headers["Retry-After"] = str(wait)
        return response
    async with svc.db.write() as conn:
        if outcome.user is None:
            await throttle.failed(conn, attempt, conf, now=now)
        else:
            await throttle.succeeded(conn, attempt)
            cookie, _csrf = await user_store.create_session(conn, outcome.user, at=now)
            if known and device:
                await account_store.touch_device(conn, device[1], at=now)
                device_cookie = None
            else:
                device_cookie = await account_store.remember_device(conn, outcome.user.id, at=now)
    if outcome.user is None:
        log.warning("console login failed for %r from %s: %s", name[:50], client, outcome.reason)
        return _form_page(request, "login.html", status=401, flash_kind="error",
                          flash="用户名或密码不正确。连续输错后每次重试需等待更久（不会锁定账号）。")
    log.info("console login: %s from %s%s", outcome.user.name, client, " (remembered device)" if known else "")
    response = web.HTTPSeeOther("/")
    set_cookie(request, response, SESSION_COOKIE, cookie)
    if device_cookie:
        set_cookie(request, response, DEVICE_COOKIE, device_cookie, max_age=conf.remember_device_days * 86400)
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


async def _enrolment(request: web.Request) -> account_store.Enrolment:
    svc = service(request)
    code = request.match_info["code"][:100]
    async with svc.db.read() as conn:
        found = await account_store.open_enrolment(conn, code, now=svc.clock.now())
    if found is None:
        raise web.HTTPNotFound(text="链接无效、已使用或已过期，请联系管理员重新发送。")
    return found


@routes.get("/enrol/{code}")
async def enrol_form(request: web.Request) -> web.Response:
    found = await _enrolment(request)
    return _form_page(request, "enrol.html", person=found.user_name, purpose=found.purpose)


@routes.post("/enrol/{code}")
async def enrol(request: web.Request) -> web.Response:
    """The owner sets their own password; the link then opens nothing any more."""
    found = await _enrolment(request)
    form = await request.post()
    _check_form_csrf(request, form)
    password = str(form.get("password", ""))
    if password != str(form.get("password2", "")):
        return _form_page(request, "enrol.html", status=400, person=found.user_name, purpose=found.purpose,
                          flash="两次输入的密码不一致。", flash_kind="error")
    svc = service(request)
    try:
        async with svc.db.write() as conn:
            user = await accounts.enrol(conn, request.match_info["code"][:100], password,
                                        origin=f"console:{client_origin(request)}", at=svc.clock.now())
    except accounts.AccountRefused as exc:
        return _form_page(request, "enrol.html", status=400, person=found.user_name, purpose=found.purpose,
                          flash=str(exc), flash_kind="error")
    log.info("enrolment: %s set a password from %s", user.name, client_origin(request))
    return _form_page(request, "login.html", flash=f"已为 {user.name} 设置密码，请登录。")
