"""Who is calling: bearer tokens for the API, session cookies (with CSRF) for the console."""

from __future__ import annotations

import hmac
from datetime import timedelta

from aiohttp import web

from alerts.security.clientinfo import client_address, is_https
from alerts.store import users as user_store
from alerts.store.users import User

SESSION_COOKIE = "alerts_session"
DEVICE_COOKIE = "alerts_device"
SERVICE_KEY: web.AppKey = web.AppKey("service", object)
# `last_used` of a token is written at most this often, so API calls do not all become writes.
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def service(request: web.Request):  # type: ignore[no-untyped-def]
    return request.app[SERVICE_KEY]


def client_origin(request: web.Request) -> str:
    """The client's address: X-Forwarded-For only from service.yaml http.trusted_proxies."""
    return client_address(request, service(request).settings.service.http.trusted_proxies)


def over_https(request: web.Request) -> bool:
    return is_https(request, service(request).settings.service.http.trusted_proxies)


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               max_age: int | None = None) -> None:
    """HttpOnly, SameSite=Strict, and Secure whenever the request came over HTTPS (directly or via a trusted proxy)."""
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=over_https(request), path="/",
                        max_age=max_age)


async def api_user(request: web.Request) -> User:
    """The user behind a bearer token, or a 401 JSON error."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise json_error(401, "missing bearer token: send 'Authorization: Bearer <token>' (alerts tokens create NAME)")
    svc = service(request)
    async with svc.db.read() as conn:
        found = await user_store.token_lookup(conn, token.strip()[:200])
    if found is None:
        raise json_error(401, "unknown, revoked or disabled token")
    user, info = found
    now = svc.clock.now()
    if info.last_used_at is None or now - info.last_used_at >= TOKEN_USE_RESOLUTION:
        async with svc.db.write() as conn:
            await user_store.mark_token_used(conn, info.id, now)
    return user


async def console_session(request: web.Request) -> user_store.Session | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 200:
        return None
    svc = service(request)
    async with svc.db.read() as conn:
        sess = await user_store.session(conn, cookie)
    if sess is None:
        return None
    now = svc.clock.now()
    conf = svc.settings.service.session
    idle = timedelta(minutes=conf.idle_timeout_minutes)
    absolute = timedelta(hours=conf.absolute_hours)
    if now - sess.last_seen_at > idle or (sess.created_at is not None and now - sess.created_at > absolute):
        async with svc.db.write() as conn:
            await user_store.end_session(conn, sess.id_hash)
        return None
    async with svc.db.write() as conn:
        await user_store.touch_session(conn, sess.id_hash, now)
    return sess


def check_csrf(sess: user_store.Session, submitted: str | None) -> None:
    if not submitted or not hmac.compare_digest(sess.csrf, submitted):
        raise web.HTTPForbidden(text="表单已失效或缺少校验码（CSRF），请刷新页面后重试。")


def json_error(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
           409: web.HTTPConflict, 413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType,
           422: web.HTTPUnprocessableEntity}[status]
    import json

    kwargs = {"max_size": 0, "actual_size": 0} if status == 413 else {}
    exc = cls(text=json.dumps({"error": message}, ensure_ascii=False), content_type="application/json", **kwargs)
    return exc
