"""Events in the console: the list, one page per event (phone-friendly), its forms, and the one-click
acknowledgement page that IM links open without a login."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from alerts.clock import SHANGHAI
from alerts.events import store
from alerts.events.publishing import allowed_targets
from alerts.events.view import event_view, silent_counts, summary_row
from alerts.web.auth import client_origin, service
from alerts.web.console import (
    NAV,
    NavLink,
    checked_form,
    redirect_with_flash,
    render_page,
    require_permission,
)
from alerts.web.console_errors import refusal_zh
from alerts.web.console_words import when as local
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused
from alerts.workflow.states import TransitionError

routes = web.RouteTableDef()
if not any(link.href == "/events" for link in NAV):
    NAV.insert(1, NavLink("/events", "事件"))

TARGET_ZH = {"residents": "居民", "elderly": "老年人", "schools": "学校", "enterprises": "企业",
             "villages": "村（社区）干部", "communities": "社区", "families": "家庭", "volunteers": "科技志愿服务队",
             "media": "媒体"}
CHANNEL_ZH = {"sms": "短信", "notice": "公告", "im": "工作群"}


def local_iso(value: str | None) -> str:
    """An ISO time from the read model, as people in Gaoping read it."""
    return local(datetime.fromisoformat(value)) if value else ""


def _event_id(request: web.Request, name: str = "id") -> int:
    value = store.valid_id(request.match_info[name])
    if value is None:
        raise web.HTTPNotFound(text="没有这个事件。")
    return value


def _can(request: web.Request, user: Any) -> dict[str, bool]:
    policy = service(request).policy
    return {p: policy.can(user, p) for p in ("manage_events", "work_tasks", "draft_policy", "record_rumour",
                                             "sign_off_rumour", "approve", "review_content")}


@routes.get("/events")
async def events_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看事件")
    svc = service(request)
    async with svc.db.read() as conn:
        rows = await store.list_events(conn)
        counts = await silent_counts(conn, [int(r.id) for r in rows])
    # An event without acknowledgement requests has no counts: zero, not a missing field (a 500 before).
    items = [summary_row(r, counts.get(int(r.id)) or {"units": 0, "silent": 0}) for r in rows]
    return render_page(request, "events.html", sess, events=items, local_iso=local_iso, can=_can(request, sess.user),
                       townships=list(svc.areas.townships.values()), hazards=_hazards(request))


def _hazards(request: web.Request) -> list[tuple[str, str]]:
    table = service(request).hazards
    return [(k, table.name_zh(k)) for k in table.keys()]


@routes.post("/events")
async def open_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "manage_events", "开启事件")
    try:
        event_id = await service(request).events.actions.open(
            sess.user, title=str(form.get("title", "")), hazard=str(form.get("hazard", "")) or None,
            level=str(form.get("level", "")) or None, areas=[str(a) for a in form.getall("areas", [])],
            origin=f"console:{client_origin(request)}")
    except Refused as exc:
        return redirect_with_flash(request, "/events", f"未能开启事件：{refusal_zh(exc)}", "error")
    raise web.HTTPSeeOther(f"/events/{event_id}")


async def _page(request: web.Request, sess: Any, event_id: int, *, flash: str | None = None,
                flash_kind: str | None = None, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        view = await event_view(conn, svc.events, event_id)
    if view is None:
        raise web.HTTPNotFound(text="没有这个事件。")
    desk = svc.events
    mine = [k for k, d in desk.departments.departments.items() if sess.user.name in d.members]
    policies = [sk for sk in desk.skeletons.of_kind("policy") if not sk.departments or set(sk.departments) & set(mine)]
    return render_page(request, "event.html", sess, status=status, e=view, local_iso=local_iso, can=_can(request, sess.user),
                       mine=mine, policies=policies, rumour_skeleton=desk.skeletons.get("rumour", "response"),
                       targets=allowed_targets(), target_zh=TARGET_ZH, target_channel_zh=CHANNEL_ZH,
                       flash=flash, flash_kind=flash_kind, now_local=svc.clock.now().astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M"))


@routes.get("/events/{id}")
async def event_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看事件")
    return await _page(request, sess, _event_id(request))


async def _act(request: web.Request, sess: Any, event_id: int, action: Any, done: str) -> web.Response:
    try:
        await action
    except NotFound:
        raise web.HTTPNotFound(text="没有这一项。") from None
    except (Refused, TransitionError) as exc:
        return redirect_with_flash(request, f"/events/{event_id}", f"未完成：{refusal_zh(exc)}", "error")
    return redirect_with_flash(request, f"/events/{event_id}", done)


@routes.post("/events/{id}/close")
async def close_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "manage_events", "关闭事件")
    event_id = _event_id(request)
    return await _act(request, sess, event_id, service(request).events.actions.close(
        sess.user, event_id, str(form.get("note", "")), origin=f"console:{client_origin(request)}"), "事件已关闭。")


@routes.post("/events/{id}/acknowledgements/{request_id}")
async def ack_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "view", "登记确认")
    event_id, request_id = _event_id(request), _event_id(request, "request_id")
    return await _act(request, sess, event_id, service(request).events.actions.acknowledge(
        sess.user, event_id, request_id, str(form.get("note", "")), origin=f"console:{client_origin(request)}"),
        "已登记确认收到，停止催办。")


@routes.post("/events/{id}/tasks/{task_id}/done")
async def task_done_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "view", "完成任务")
    event_id, task_id = _event_id(request), _event_id(request, "task_id")
    return await _act(request, sess, event_id, service(request).events.actions.task_done(
        sess.user, event_id, task_id, str(form.get("note", "")), origin=f"console:{client_origin(request)}"),
        "任务已标记完成。")


def _fields(form: Any) -> dict[str, str]:
    return {k[len("field_"):]: str(v) for k, v in form.items() if k.startswith("field_")}


@routes.post("/events/{id}/policy")
async def policy_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "draft_policy", "起草政策解读")
    event_id = _event_id(request)
    try:
        decision = await service(request).events.publishing.draft_policy(
            sess.user, event_id, str(form.get("skeleton", "")), _fields(form),
            [str(t) for t in form.getall("targets", [])], origin=f"console:{client_origin(request)}")
    except NotFound:
        raise web.HTTPNotFound(text="没有这个事件。") from None
    except Refused as exc:
        return redirect_with_flash(request, f"/events/{event_id}", f"未起草：{refusal_zh(exc)}", "error")
    raise web.HTTPSeeOther(f"/drafts/{decision.draft_id}")


@routes.post("/events/{id}/rumours")
async def rumour_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "record_rumour", "登记谣言")
    event_id = _event_id(request)
    try:
        seen_at = datetime.fromisoformat(str(form.get("seen_at", ""))).replace(tzinfo=SHANGHAI)
    except ValueError:
        return redirect_with_flash(request, f"/events/{event_id}", "未登记：请填写看到的时间。", "error")
    return await _act(request, sess, event_id, service(request).events.publishing.record_rumour(
        sess.user, event_id, claim=str(form.get("claim", "")), seen_where=str(form.get("seen_where", "")),
        seen_at=seen_at, origin=f"console:{client_origin(request)}"), "已登记网传说法，可起草辟谣回应。")


@routes.post("/events/{id}/rumours/{rumour_id}/response")
async def response_form(request: web.Request) -> web.Response:
    sess, form = await checked_form(request, "record_rumour", "起草辟谣回应")
    event_id, rumour_id = _event_id(request), _event_id(request, "rumour_id")
    try:
        decision = await service(request).events.publishing.respond(
            sess.user, event_id, rumour_id, _fields(form), [str(t) for t in form.getall("targets", [])],
            origin=f"console:{client_origin(request)}")
    except NotFound:
        raise web.HTTPNotFound(text="没有这条网传说法。") from None
    except Refused as exc:
        return redirect_with_flash(request, f"/events/{event_id}", f"未起草：{refusal_zh(exc)}", "error")
    raise web.HTTPSeeOther(f"/drafts/{decision.draft_id}")


@routes.post("/drafts/{id}/sign-off")
async def sign_off_form(request: web.Request) -> web.Response:
    sess, _form = await checked_form(request, "sign_off_rumour", "审签辟谣回应")
    draft_id = _event_id(request)
    try:
        await service(request).events.publishing.sign_off(sess.user, draft_id, origin=f"console:{client_origin(request)}")
    except NotFound:
        raise web.HTTPNotFound(text="没有这条消息。") from None
    except (Refused, TransitionError) as exc:
        return redirect_with_flash(request, f"/drafts/{draft_id}", f"未审签：{refusal_zh(exc)}", "error")
    return redirect_with_flash(request, f"/drafts/{draft_id}", "已审签，辟谣回应可以交审批人批准。")


# --- one-click acknowledgement (no login) ----------------------------------------------------


@routes.get("/ack/{token}")
async def ack_link_page(request: web.Request) -> web.Response:
    # A page with one button, not an acknowledgement on GET: IM apps fetch links to preview them,
    # and a preview must not count as somebody's answer.
    return render_page(request, "event_ack.html", None, token=request.match_info["token"], outcome=None)


@routes.post("/ack/{token}")
async def ack_link(request: web.Request) -> web.Response:
    outcome, row = await service(request).events.actions.acknowledge_link(
        request.match_info["token"], origin=f"link:{client_origin(request)}")
    status = 200 if outcome != "invalid" else 404
    return render_page(request, "event_ack.html", None, status=status, token="", outcome=outcome, row=row)
