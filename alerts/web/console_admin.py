"""Console administration of accounts, for the admin role only: an admin manages accounts, never acts as anyone.

An admin adds people (who set their own password through a one-time link), changes roles,
disables, resets credentials and revokes single tokens. An admin never sees a password and
cannot create a token for anyone. Granting a dangerous role waits for a second admin
(alerts/security/accounts.py, the two-person rule).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from alerts.recipients import normalise_phone
from alerts.security import accounts
from alerts.store import accounts as account_store
from alerts.store import users as user_store
from alerts.web.auth import client_origin, service
from alerts.web.console import checked_form, redirect_with_flash, render_page, require_permission
from alerts.web.guards import parse_id
from alerts.workflow import audit

routes = web.RouteTableDef()
PERMISSION, WHAT = "manage_users", "管理用户"


async def _page(request: web.Request, sess: user_store.Session, *, flash: str | None = None,
                flash_kind: str | None = None, link: str | None = None, status: int = 200) -> web.Response:
    svc = service(request)
    if request.method == "POST" and link is None and flash and flash_kind is None and status == 200:
        # post/redirect/get after a success (a refusal keeps its status code); only a one-time enrolment link is
        # shown in the POST's own answer (never stored).
        return redirect_with_flash(request, "/admin/users", flash, flash_kind)
    async with svc.db.read() as conn:
        people = await user_store.all_users(conn)
        tokens = {u.id: [t for t in await user_store.tokens_of(conn, u.id) if not t.revoked] for u in people}
        enrolled = {u.id: await user_store.enrolled(conn, u.id) for u in people}
        pending = await account_store.pending_requests(conn)
    return render_page(request, "users.html", sess, status=status, people=people, tokens=tokens, enrolled=enrolled,
                       pending=pending, roles=list(svc.settings.workflow.roles), flash=flash, flash_kind=flash_kind,
                       link=link, needs_second=accounts.dangerous(svc.settings, list(svc.settings.workflow.roles)))


def _origin(request: web.Request) -> str:
    return f"console:{client_origin(request)}"


def _pending_note(outcome: accounts.Outcome) -> str:
    if not outcome.pending:
        return ""
    return (f"角色 {'、'.join(outcome.pending)} 须由另一位管理员确认后才生效（双人规则，申请编号 "
            f"{outcome.request_id}）。")


async def _target(conn: Any, name: str) -> user_store.User:
    user = await user_store.by_name(conn, name[:100])
    if user is None:
        raise web.HTTPNotFound(text=f"没有用户 {name[:100]}。")
    return user


@routes.get("/admin/users")
async def users_page(request: web.Request) -> web.Response:
    return await _page(request, await require_permission(request, PERMISSION, WHAT))


@routes.post("/admin/users")
async def add_user(request: web.Request) -> web.Response:
    """Add a person; the page shows a one-time link for them to set their own password."""
    sess, form = await checked_form(request, PERMISSION, WHAT)
    svc = service(request)
    name = str(form.get("name", "")).strip()[:200]
    roles = [str(r) for r in form.getall("role", [])]
    phone_raw = str(form.get("phone", "")).strip()[:40]
    phone = normalise_phone(phone_raw) if phone_raw else None
    if phone_raw and phone is None:
        return await _page(request, sess, flash="未添加：手机号格式不正确（例如 13800138000）", flash_kind="error",
                           status=400)
    try:
        async with svc.db.write() as conn:
            outcome = await accounts.create(conn, svc.settings, name=name, roles=roles,
                                            display_name=str(form.get("display_name", ""))[:400], phone=phone,
                                            by=sess.user.name, origin=_origin(request), at=svc.clock.now())
    except accounts.AccountRefused as exc:
        status = 409 if "已存在" in str(exc) else 400
        return await _page(request, sess, flash=f"未添加：{exc}", flash_kind="error", status=status)
    assert outcome.code is not None
    return await _page(request, sess, link=accounts.enrol_link(svc.settings, outcome.code),
                       flash=f"已添加用户 {name}。请把下面的一次性链接交给本人，由本人设置密码（链接只能用一次，"
                             f"{svc.settings.service.accounts.enrolment_hours:g} 小时内有效）。" + _pending_note(outcome))


@routes.post("/admin/users/{name}/roles")
async def change_roles(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, PERMISSION, WHAT)
    svc = service(request)
    roles = [str(r) for r in form.getall("role", [])]
    try:
        async with svc.db.write() as conn:
            user = await _target(conn, request.match_info["name"])
            outcome = await accounts.change_roles(conn, svc.settings, user, roles, by=sess.user.name,
                                                  origin=_origin(request), at=svc.clock.now())
    except accounts.AccountRefused as exc:
        return await _page(request, sess, flash=f"未修改：{exc}", flash_kind="error", status=400)
    return await _page(request, sess, flash=f"已更新 {user.name} 的角色。" + _pending_note(outcome))


@routes.post("/admin/users/{name}/reset")
async def reset_credentials(request: web.Request) -> web.Response:
    """Revoke the person's password, tokens, sessions and devices; a new one-time link for them."""
    sess, _form = await checked_form(request, PERMISSION, WHAT)
    svc = service(request)
    async with svc.db.write() as conn:
        user = await _target(conn, request.match_info["name"])
        outcome = await accounts.reset(conn, svc.settings, user, by=sess.user.name, origin=_origin(request),
                                       at=svc.clock.now())
    assert outcome.code is not None
    return await _page(request, sess, link=accounts.enrol_link(svc.settings, outcome.code),
                       flash=f"已重置 {user.name} 的登录凭据：密码、全部令牌和登录已失效。请把一次性链接交给本人。"
                             + _pending_note(outcome))


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    sess, _form = await checked_form(request, PERMISSION, WHAT)
    svc = service(request)
    name = request.match_info["name"][:100]
    if disabled and name == sess.user.name:
        return await _page(request, sess, flash="不能停用自己的账号。", flash_kind="error", status=409)
    async with svc.db.write() as conn:
        ok = await user_store.set_disabled(conn, name, disabled)
        if ok:
            await audit.append(conn, at=svc.clock.now(), actor=sess.user.name,
                               action="user.disabled" if disabled else "user.enabled", target=f"user:{name}",
                               origin=_origin(request))
    if not ok:
        raise web.HTTPNotFound(text=f"没有用户 {name}。")
    note = "其全部令牌已撤销，重新启用也不会恢复。" if disabled else "此前撤销的令牌不会恢复，需由本人重新创建。"
    return await _page(request, sess, flash=f"已{'停用' if disabled else '启用'}用户 {name}。{note}")


@routes.post("/admin/users/{name}/disable")
async def disable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, True)


@routes.post("/admin/users/{name}/enable")
async def enable_user(request: web.Request) -> web.Response:
    return await _set_disabled(request, False)


@routes.post("/admin/users/{name}/tokens/{token_id}/revoke")
async def revoke_token(request: web.Request) -> web.Response:
    """Revoke one token of a person (revoking never lets anyone act as them)."""
    sess, _form = await checked_form(request, PERMISSION, WHAT)
    svc = service(request)
    token_id = parse_id(request.match_info["token_id"]) or -1
    async with svc.db.write() as conn:
        user = await _target(conn, request.match_info["name"])
        ok = await user_store.revoke_token(conn, token_id, user_id=user.id)
        if ok:
            await audit.append(conn, at=svc.clock.now(), actor=sess.user.name, action="token.revoked",
                               target=f"user:{user.name}", origin=_origin(request), after={"token": token_id})
    if not ok:
        raise web.HTTPNotFound(text="没有这个有效令牌。")
    return await _page(request, sess, flash=f"已撤销 {user.name} 的令牌 {token_id}。")


async def _decide(request: web.Request, confirm: bool) -> web.Response:
    sess, _form = await checked_form(request, PERMISSION, WHAT)
    svc = service(request)
    request_id = parse_id(request.match_info["id"]) or -1
    try:
        async with svc.db.write() as conn:
            if confirm:
                target = await accounts.confirm(conn, request_id, by=sess.user, origin=_origin(request),
                                                at=svc.clock.now())
            else:
                await accounts.refuse(conn, request_id, by=sess.user, origin=_origin(request), at=svc.clock.now())
    except accounts.AccountRefused as exc:
        return await _page(request, sess, flash=f"未处理：{exc}", flash_kind="error", status=409)
    return await _page(request, sess, flash=f"已确认：{target.name} 的角色已生效。" if confirm else "已驳回该申请。")


@routes.post("/admin/requests/{id}/confirm")
async def confirm_request(request: web.Request) -> web.Response:
    """The second person of the two-person rule confirms a grant."""
    return await _decide(request, True)


@routes.post("/admin/requests/{id}/refuse")
async def refuse_request(request: web.Request) -> web.Response:
    return await _decide(request, False)
