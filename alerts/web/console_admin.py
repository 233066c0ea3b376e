"""Console administration: users (add, disable, enable) and API tokens, for the admin role only."""

from __future__ import annotations

import secrets

from aiohttp import web

from alerts.recipients import mask_phone, normalise_phone
from alerts.store import users as user_store
from alerts.web.auth import client_origin, service
from alerts.web.console import checked_form, render_page, require_permission
from alerts.workflow import audit

routes = web.RouteTableDef()


async def _page(request: web.Request, sess: user_store.Session, *, flash: str | None = None,
                flash_kind: str | None = None, secret: str | None = None, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        people = await user_store.all_users(conn)
    return render_page(request, "users.html", sess, status=status, people=people, roles=list(svc.settings.workflow.roles),
                       flash=flash, flash_kind=flash_kind, secret=secret)


@routes.get("/admin/users")
async def users_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "manage_users", "管理用户")
    return await _page(request, sess)


@routes.post("/admin/users")
async def add_user(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "manage_users", "管理用户")
    svc = service(request)
    name = str(form.get("name", "")).strip()
    roles = [str(r) for r in form.getall("role", [])]
    phone_raw = str(form.get("phone", "")).strip()
    problems = []
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        problems.append("用户名不能为空，不能含空格，最长 100 字符")
    unknown = [r for r in roles if r not in svc.settings.workflow.roles]
    if not roles or unknown:
        problems.append("请至少选择一个已配置的角色")
    phone = normalise_phone(phone_raw) if phone_raw else None
    if phone_raw and phone is None:
        problems.append("手机号格式不正确（例如 13800138000）")
    if problems:
        return await _page(request, sess, flash="未添加：" + "；".join(problems), flash_kind="error", status=400)
    password = secrets.token_urlsafe(12)
    now = svc.clock.now()
    async with svc.db.write() as conn:
        if await user_store.by_name(conn, name) is not None:
            exists = True
        else:
            exists = False
            await user_store.add(conn, name, roles, password, at=now, display_name=str(form.get("display_name", ""))[:200],
                                 phone=phone)
            await audit.append(conn, at=now, actor=sess.user.name, action="user.added", target=f"user:{name}",
                               origin=f"console:{client_origin(request)}",
                               after={"roles": roles, "phone": mask_phone(phone) if phone else None})
    if exists:
        return await _page(request, sess, flash=f"未添加：用户 {name} 已存在。", flash_kind="error", status=409)
    return await _page(request, sess, flash=f"已添加用户 {name}。请把一次性密码当面或电话告知本人：",
                       secret=password)


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    sess, _form = await checked_form(request, "manage_users", "管理用户")
    svc = service(request)
    name = request.match_info["name"]
    if disabled and name == sess.user.name:
        return await _page(request, sess, flash="不能停用自己的账号。", flash_kind="error", status=409)
    async with svc.db.write() as conn:
        ok = await user_store.set_disabled(conn, name, disabled)
        if ok:
            await audit.append(conn, at=svc.clock.now(), actor=sess.user.name,
                               action="user.disabled" if disabled else "user.enabled", target=f"user:{name}",
                               origin=f"console:{client_origin(request)}")
    if not ok:
        raise web.HTTPNotFound(text=f"没有用户 {name}。")
    return await _page(request, sess, flash=f"已{'停用' if disabled else '启用'}用户 {name}。")


@routes.post("/admin/users/{name}/disable")
async def disable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, True)


@routes.post("/admin/users/{name}/enable")
async def enable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, False)


@routes.post("/admin/users/{name}/token")
async def create_token(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "manage_users", "管理用户")
    svc = service(request)
    name = request.match_info["name"]
    label = str(form.get("label", "") or "api")[:100]
    now = svc.clock.now()
    async with svc.db.write() as conn:
        user = await user_store.by_name(conn, name)
        if user is None or user.disabled:
            token = None
        else:
            token = await user_store.create_token(conn, user, label, at=now)
            await audit.append(conn, at=now, actor=sess.user.name, action="token.created", target=f"user:{name}",
                               origin=f"console:{client_origin(request)}", after={"label": label})
    if token is None:
        raise web.HTTPNotFound(text=f"没有启用中的用户 {name}。")
    return await _page(request, sess, flash=f"已为 {name} 创建接口令牌（{label}），只显示这一次，请妥善保存：", secret=token)
