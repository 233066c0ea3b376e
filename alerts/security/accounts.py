"""Managing accounts without acting as anyone: enrolment links, credential resets, the two-person rule.

An administrator creates an account and hands its owner a one-time link; the owner sets their own
password, and only the owner creates their API tokens. Nobody else ever sees a password or a
token. A role that holds a dangerous permission (by default approve, manage_users,
manage_settings; service.yaml `accounts.two_person`) is granted only when a second person with
manage_users confirms; resetting such a person's credentials suspends those roles until a
second person confirms again. So one administrator alone can neither make an approver nor
become one.

The command line (`alerts users ...`) is the server operator's path: whoever runs it holds the
database anyway, so it grants directly, and every action is audited with the operating-system user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.recipients import mask_phone
from alerts.settings import Settings
from alerts.store import accounts as account_store
from alerts.store import users as user_store
from alerts.store.users import User
from alerts.textclean import problems as text_problems
from alerts.workflow import audit

GRANT = "grant_roles"


class AccountRefused(Exception):
    """An account action that is not allowed; the message says why, in Chinese, for the console."""


@dataclass
class Outcome:
    user: User
    code: str | None = None  # a one-time enrolment code for the owner
    granted: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # roles waiting for a second person
    request_id: int | None = None


def dangerous(settings: Settings, roles: list[str] | tuple[str, ...]) -> list[str]:
    """The roles that need a second person to grant (none when the rule is off)."""
    rule = settings.service.accounts.two_person
    if not rule.enabled:
        return []
    perms = set(rule.permissions)
    return [r for r in roles if perms & set(settings.workflow.roles.get(r, []))]


def enrol_link(settings: Settings, code: str) -> str:
    return settings.service.http.public_base_url.rstrip("/") + f"/enrol/{code}"


def check_display_name(display_name: str) -> str:
    found = text_problems(display_name, field="显示名称")
    if found:
        raise AccountRefused("；".join(found))
    if len(display_name) > 100:
        raise AccountRefused("显示名称最长 100 字符")
    return display_name.strip()


async def create(conn: AsyncConnection, settings: Settings, *, name: str, roles: list[str], display_name: str,
                 phone: str | None, by: str, origin: str, at: datetime, operator: bool = False) -> Outcome:
    """A new account without a password; dangerous roles wait for a second person unless `operator`."""
    problem = user_store.name_problem(name)
    if problem:
        raise AccountRefused(f"用户名不符合规则（{user_store.NAME_RULE}）")
    unknown = [r for r in roles if r not in settings.workflow.roles]
    if not roles or unknown:
        raise AccountRefused("请至少选择一个已配置的角色" + (f"（未知：{', '.join(unknown)}）" if unknown else ""))
    display_name = check_display_name(display_name)
    if await user_store.by_name(conn, name) is not None:
        raise AccountRefused(f"用户 {name} 已存在")
    held = [] if operator else dangerous(settings, roles)
    granted = [r for r in roles if r not in held]
    user = await user_store.add(conn, name, granted, None, at=at, display_name=display_name, phone=phone)
    await audit.append(conn, at=at, actor=by, action="user.added", target=f"user:{name}", origin=origin,
                       after={"roles": granted, "pending_roles": held,
                              "phone": mask_phone(phone) if phone else None})
    outcome = Outcome(user, granted=granted, pending=held)
    if held:
        outcome.request_id = await _request(conn, user, held, by=by, origin=origin, at=at)
    outcome.code = await _enrolment(conn, settings, user, purpose="enrol", by=by, origin=origin, at=at)
    return outcome


async def change_roles(conn: AsyncConnection, settings: Settings, user: User, roles: list[str], *, by: str,
                       origin: str, at: datetime) -> Outcome:
    """Removals apply at once; additions of dangerous roles wait for a second person."""
    unknown = [r for r in roles if r not in settings.workflow.roles]
    if unknown:
        raise AccountRefused(f"未知角色：{', '.join(unknown)}")
    added = [r for r in roles if r not in user.roles]
    held = dangerous(settings, added)
    now_roles = [r for r in roles if r not in held]
    if now_roles != list(user.roles):
        await user_store.set_roles(conn, user.id, now_roles)
        await audit.append(conn, at=at, actor=by, action="user.roles", target=f"user:{user.name}", origin=origin,
                           before={"roles": list(user.roles)}, after={"roles": now_roles})
    outcome = Outcome(user, granted=[r for r in now_roles if r not in user.roles], pending=held)
    if held:
        outcome.request_id = await _request(conn, user, held, by=by, origin=origin, at=at)
    return outcome


async def reset(conn: AsyncConnection, settings: Settings, user: User, *, by: str, origin: str, at: datetime,
                operator: bool = False) -> Outcome:
    """Revoke every credential (password, tokens, sessions, devices) and issue a new enrolment link.

    Dangerous roles are suspended until a second person confirms (unless `operator`): otherwise
    whoever holds the link could become the approver.
    """
    tokens = await user_store.revoke_tokens(conn, user.id)
    sessions = await user_store.end_sessions(conn, user.id)
    devices = await account_store.forget_devices(conn, user.id)
    await user_store.clear_password(conn, user.id)
    held = [] if operator else dangerous(settings, user.roles)
    if held:
        await user_store.set_roles(conn, user.id, [r for r in user.roles if r not in held])
    await audit.append(conn, at=at, actor=by, action="user.credentials_reset", target=f"user:{user.name}",
                       origin=origin, before={"roles": list(user.roles)},
                       after={"tokens_revoked": tokens, "sessions_ended": sessions, "devices_forgotten": devices,
                              "suspended_roles": held})
    outcome = Outcome(user, pending=held)
    if held:
        outcome.request_id = await _request(conn, user, held, by=by, origin=origin, at=at)
    outcome.code = await _enrolment(conn, settings, user, purpose="reset", by=by, origin=origin, at=at)
    return outcome


async def confirm(conn: AsyncConnection, request_id: int, *, by: User, origin: str, at: datetime) -> User:
    """The second person agrees: the roles are granted. Neither the requester nor the target may confirm."""
    req = await account_store.get_request(conn, request_id)
    if req is None or req.state != "pending":
        raise AccountRefused("没有这个待确认的申请，或已被处理")
    if by.name in (req.requested_by, req.target):
        raise AccountRefused("双人规则：申请人或被授权人本人不能确认，须由另一位管理员确认")
    target = await user_store.by_name(conn, req.target)
    if target is None or target.disabled:
        raise AccountRefused(f"用户 {req.target} 不存在或已停用")
    if not await account_store.decide_request(conn, request_id, state="confirmed", by=by.name, at=at):
        raise AccountRefused("该申请已被处理")
    roles = list(target.roles) + [r for r in req.payload.get("roles", []) if r not in target.roles]
    await user_store.set_roles(conn, target.id, roles)
    await audit.append(conn, at=at, actor=by.name, action="user.roles_confirmed", target=f"user:{target.name}",
                       origin=origin, before={"roles": list(target.roles)},
                       after={"roles": roles, "request": request_id, "requested_by": req.requested_by})
    return target


async def refuse(conn: AsyncConnection, request_id: int, *, by: User, origin: str, at: datetime) -> None:
    req = await account_store.get_request(conn, request_id)
    if req is None or not await account_store.decide_request(conn, request_id, state="refused", by=by.name, at=at):
        raise AccountRefused("没有这个待确认的申请，或已被处理")
    await audit.append(conn, at=at, actor=by.name, action="user.roles_refused", target=f"user:{req.target}",
                       origin=origin, after={"request": request_id, "roles": req.payload.get("roles", [])})


async def enrol(conn: AsyncConnection, code: str, password: str, *, origin: str, at: datetime) -> User:
    """The owner sets their password with a one-time code; every earlier session of theirs ends."""
    found = await account_store.open_enrolment(conn, code, now=at)
    if found is None:
        raise AccountRefused("链接无效、已使用或已过期，请联系管理员重新发送。")
    problem = user_store.password_problem(password, found.user_name)
    if problem:
        raise AccountRefused(_PASSWORD_ZH.get(problem.split(":")[0], problem))
    if not await account_store.use_enrolment(conn, found.id, at=at):
        raise AccountRefused("链接已被使用。")
    await user_store.set_password(conn, found.user_id, password)
    await user_store.end_sessions(conn, found.user_id)
    await audit.append(conn, at=at, actor=found.user_name, action="user.enrolled", target=f"user:{found.user_name}",
                       origin=origin, after={"purpose": found.purpose, "link_from": found.created_by})
    user = await user_store.by_id(conn, found.user_id)
    assert user is not None
    return user


_PASSWORD_ZH = {
    "the password is too short": f"密码太短：至少 {user_store.MIN_PASSWORD} 个字符",
    "the password is too long": "密码太长：最多 1024 个字符",
    "the password must not contain the user name": "密码不能包含用户名",
}


async def _request(conn: AsyncConnection, user: User, roles: list[str], *, by: str, origin: str,
                   at: datetime) -> int:
    request_id = await account_store.add_request(conn, kind=GRANT, target=user.name, payload={"roles": roles},
                                                 by=by, at=at)
    await audit.append(conn, at=at, actor=by, action="user.roles_requested", target=f"user:{user.name}",
                       origin=origin, after={"roles": roles, "request": request_id})
    return request_id


async def _enrolment(conn: AsyncConnection, settings: Settings, user: User, *, purpose: str, by: str, origin: str,
                     at: datetime) -> str:
    hours = settings.service.accounts.enrolment_hours
    code = await account_store.new_enrolment(conn, user.id, purpose=purpose, by=by, at=at,
                                             valid=timedelta(hours=hours))
    await audit.append(conn, at=at, actor=by, action="user.enrolment_link", target=f"user:{user.name}",
                       origin=origin, after={"purpose": purpose, "valid_hours": hours})
    return code
