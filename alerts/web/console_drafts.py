"""The console's draft page and its decisions: approve, reject, edit, expert review, stop; raw alert text."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from alerts.chain import STAGE_ZH
from alerts.organisations import reach_for_draft
from alerts.outbox.fanout import count_for_draft
from alerts.store import alerts as alert_store
from alerts.store import drafts as draft_store
from alerts.store import users as user_store
from alerts.store.tables import raw_inputs
from alerts.web.auth import client_origin, service
from alerts.web.console import checked_form, redirect_with_flash, render_page, require_permission
from alerts.web.console_errors import refusal_zh
from alerts.web.console_estimates import citywide_red, reach_by_message, recipients_estimate
from alerts.web.views import message_json
from alerts.workflow import audit
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused
from alerts.workflow.states import FOLLOW_UP_FROM, TransitionError

routes = web.RouteTableDef()


def _id(request: web.Request, key: str = "id") -> int:
    try:
        return int(request.match_info[key])
    except ValueError:
        raise web.HTTPNotFound(text="没有这条记录。") from None


def _template_info(svc: Any, template_id: str) -> dict[str, Any] | None:
    try:
        t = svc.library.get(template_id)
    except Exception:  # noqa: BLE001 - a template removed since drafting is shown as missing, not a crash
        return None
    return {"title": t.title, "status": t.status, "review": t.review, "version": t.version}


async def _page(request: web.Request, sess: user_store.Session, draft_id: int, *, status: int = 200) -> web.Response:
    svc = service(request)
    async with svc.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        if record is None:
            raise web.HTTPNotFound(text=f"没有编号为 {draft_id} 的消息。")
        d = record.row
        alert = await alert_store.get(conn, d.alert_id) if d.alert_id else None
        raw = None
        if alert is not None:
            raw = (await conn.execute(select(raw_inputs.c.id, raw_inputs.c.source, raw_inputs.c.received_at)
                                      .where(raw_inputs.c.alert_id == alert.id).order_by(raw_inputs.c.id)
                                      .limit(1))).first()
        counts = await count_for_draft(conn, draft_id)
        voice_counts = await count_for_draft(conn, draft_id, channel="voice")
        from alerts.broadcast.packages import for_draft as broadcast_for_draft

        broadcast = [dict(b._mapping, area_name=(svc.areas.names([b.area]) or [b.area])[0])
                     for b in await broadcast_for_draft(conn, draft_id)]
        estimate = await recipients_estimate(conn, svc, d, record.messages)
        reach = await reach_for_draft(conn, draft_id)
        history = list(reversed(await audit.recent(conn, limit=200, target=f"draft:{draft_id}")))
        chain = await draft_store.chain(conn, d.group_key)
        chain_alerts = {}
        for c in chain:
            if c.alert_id and c.alert_id not in chain_alerts:
                chain_alerts[c.alert_id] = await alert_store.get(conn, c.alert_id)
        everyone = await user_store.all_users(conn)
    verdict = svc.policy.verdict(d, record.messages)
    excluded = svc.policy.excluded_approvers(d, record.messages, record.approvals)
    approvers = [u for u in everyone if svc.policy.can(u, "approve") and u.name not in excluded]
    signature = svc.settings.service.sms.signature
    messages = []
    for m in record.messages:
        item = message_json(m, signature)
        item["template_info"] = _template_info(svc, m.template_id)
        item["reach"] = reach.get(int(m.id), [])
        messages.append(item)
    can = {p: svc.policy.can(sess.user, p) for p in ("approve", "reject", "edit", "review_content", "compose")}
    area_codes = sorted({a for m in record.messages for a in (m.areas or [])})
    areas = svc.areas.names(area_codes)
    for item, m in zip(messages, record.messages, strict=True):
        item["reaches"] = reach_by_message(estimate, m, svc.areas)
    confirm = citywide_red(svc, d, area_codes, estimate)
    return render_page(
        request, "draft.html", sess, status=status, d=d, alert=alert, raw=raw, messages=messages, counts=counts,
        estimate=estimate, verdict=verdict, approvers=approvers, approvals=record.approvals, history=history,
        chain=chain, chain_alerts=chain_alerts, can=can, areas=areas,
        may_approve_now=d.state == "pending" and can["approve"] and sess.user.name not in excluded
        and not verdict.needs_expert,
        test_phones=len(svc.settings.workflow.test_audience.phones), follow_up=d.state in FOLLOW_UP_FROM,
        stage_zh=STAGE_ZH, voice_counts=voice_counts, broadcast=broadcast, confirm_citywide=confirm,
        area_codes=area_codes,
        level_reason=alert_store.row_to_alert(alert).level_reason if alert is not None else "",
    )


@routes.get("/drafts/{id}")
async def draft_page(request: web.Request) -> web.Response:
    sess = await require_permission(request, "view", "查看消息")
    return await _page(request, sess, _id(request))


async def _decide(request: web.Request, permission: str, what: str, act: Any, done: Any) -> web.Response:
    """Every decision answers with a redirect to the draft page (post/redirect/get), its outcome shown once."""
    sess, form = await checked_form(request, permission, what)
    draft_id = _id(request)
    try:
        decision = await act(sess.user, draft_id, form)
    except NotFound:
        raise web.HTTPNotFound(text=f"没有编号为 {draft_id} 的消息或其中的内容。") from None
    except (Refused, TransitionError) as exc:
        return redirect_with_flash(request, f"/drafts/{draft_id}", f"未执行：{refusal_zh(exc)}", "error")
    target = getattr(decision, "draft_id", None) or draft_id
    return redirect_with_flash(request, f"/drafts/{target}", done(decision) if callable(done) else done)


def _wake(request: web.Request) -> None:
    from alerts.web.api import OUTBOX_WAKE_KEY

    wake = request.app.get(OUTBOX_WAKE_KEY)
    if wake is not None:
        wake()


def _origin(request: web.Request) -> str:
    return f"console:{client_origin(request)}"


@routes.post("/drafts/{id}/approve")
async def approve(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> Any:
        await _check_citywide_confirmation(svc, draft_id, form)
        decision = await svc.actions.approve(user, draft_id, origin=_origin(request))
        if decision.state == "dispatching":
            _wake(request)
        return decision

    def done(decision: Any) -> str:
        if decision.state == "pending":
            return "已记录您的批准，还需要另一位审批人批准。"
        return f"已批准，正在发送（{decision.deliveries} 条待发）。"

    return await _decide(request, "approve", "批准消息", act, done)


async def _check_citywide_confirmation(svc: Any, draft_id: int, form: Any) -> None:
    """A red warning to the whole city is approved only with the box naming the count ticked (also without JS)."""
    async with svc.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        if record is None:
            raise NotFound(f"no draft {draft_id}")
        estimate = await recipients_estimate(conn, svc, record.row, record.messages)
    codes = sorted({a for m in record.messages for a in (m.areas or [])})
    confirm = citywide_red(svc, record.row, codes, estimate)
    if confirm is not None and form.get("confirm_citywide") != "yes":
        raise Refused(f"citywide red: confirm sending to {confirm}", 409)


@routes.post("/drafts/{id}/reject")
async def reject(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> Any:
        return await svc.actions.reject(user, draft_id, str(form.get("reason", "")), origin=_origin(request))

    return await _decide(request, "reject", "驳回消息", act, "已驳回，理由已记录。")


@routes.post("/drafts/{id}/edit")
async def edit(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> Any:
        try:
            message_id = int(str(form.get("message_id", "")))
        except ValueError:
            raise Refused("表单缺少要修改的消息编号", 400) from None
        return await svc.actions.edit(user, draft_id, message_id, str(form.get("text", "")), origin=_origin(request))

    return await _decide(request, "edit", "修改消息", act, "已保存修改。修改后的内容须经专家审核，并重新审批。")


@routes.post("/drafts/{id}/review")
async def review(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> Any:
        return await svc.actions.review(user, draft_id, origin=_origin(request))

    return await _decide(request, "review_content", "审核内容", act, "已记录专家审核意见：内容可以发送。")


@routes.post("/drafts/{id}/withdraw")
async def withdraw(request: web.Request) -> web.Response:
    svc = service(request)

    async def act(user: Any, draft_id: int, form: Any) -> Any:
        return await svc.actions.withdraw(user, draft_id, str(form.get("reason", "")), origin=_origin(request))

    return await _decide(request, "approve", "停止发送", act,
                         lambda d: f"已停止：{d.deliveries} 条尚未发出的消息不再发送。")


@routes.post("/drafts/{id}/correct")
async def correct(request: web.Request) -> web.Response:
    svc = service(request)
    sess, form = await checked_form(request, "compose", "发起更正")
    draft_id = _id(request)
    try:
        decision = await svc.actions.correct(sess.user, draft_id, str(form.get("reason", "")), origin=_origin(request))
    except NotFound:
        raise web.HTTPNotFound(text=f"没有编号为 {draft_id} 的消息。") from None
    except (Refused, TransitionError) as exc:
        return redirect_with_flash(request, f"/drafts/{draft_id}", f"未执行：{refusal_zh(exc)}", "error")
    return redirect_with_flash(request, f"/drafts/{decision.draft_id}",
                               f"已生成对 #{draft_id} 的更正稿。请修改各条内容，然后交专家审核和审批。")


@routes.get("/alerts/{id}/raw")
async def raw_alert(request: web.Request) -> web.Response:
    """The received document exactly as it arrived, as text (never rendered as HTML)."""
    sess = await require_permission(request, "view", "查看原始预警")
    del sess
    alert_id = _id(request)
    async with service(request).db.read() as conn:
        row = (await conn.execute(select(raw_inputs.c.content).where(raw_inputs.c.alert_id == alert_id)
                                  .order_by(raw_inputs.c.id).limit(1))).first()
    if row is None:
        raise web.HTTPNotFound(text=f"没有预警 {alert_id} 的原始报文。")
    return web.Response(body=bytes(row.content), content_type="text/plain", charset="utf-8",
                        headers={"Content-Disposition": "inline"})
