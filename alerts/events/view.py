"""An event as people read it: summary, tasks, who acknowledged (per township and village), drafts, timeline.

One read model for the console page and the JSON API, so both always say the same.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.clock import local
from alerts.events import requests, store
from alerts.outbox.fanout import count_for_draft
from alerts.store.tables import alerts, approvals, drafts, event_drafts, messages, rumours

CHANNEL_ZH = {"sms": "短信", "voice": "语音", "im": "工作群"}
STATE_ZH = {"waiting": "未确认", "acknowledged": "已确认", "stopped": "已停止催办", "open": "待办",
            "done": "已完成"}
DRAFT_KIND_ZH = {"warning": "预警科普", "update": "预警更新", "all_clear": "解除提示", "correction": "更正",
                 "campaign": "宣传活动", "policy": "政策解读", "rumour_response": "辟谣回应"}
DRAFT_STATE_ZH = {"pending": "待审批", "approved": "已批准", "dispatching": "发送中", "sent": "已发送",
                  "partly_failed": "部分失败", "rejected": "已驳回", "expired": "已过期", "superseded": "已被替代",
                  "withdrawn": "已撤回"}


def iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def _ack(row: Any) -> dict[str, Any] | None:
    if row.ack_at is None:
        return None
    return {"at": iso(row.ack_at), "by": row.ack_by, "via": row.ack_via, "text": row.ack_text,
            "via_zh": requests.VIA_ZH.get(row.ack_via or "", row.ack_via)}


async def event_view(conn: AsyncConnection, desk: Any, event_id: int) -> dict[str, Any] | None:
    event = await store.get_event(conn, event_id)
    if event is None:
        return None
    areas = desk.service.areas
    departments = desk.departments.departments
    reqs = await requests.of_event(conn, event_id)
    attempts = await requests.attempts_of(conn, [int(r.id) for r in reqs])
    now = desk.service.clock.now()

    tasks = []
    by_task = {int(r.task_id): r for r in reqs if r.task_id is not None}
    for t in await store.tasks_of(conn, event_id):
        r = by_task.get(int(t.id))
        dept = departments.get(t.department)
        tasks.append({"id": t.id, "department": t.department, "department_name": dept.short if dept else t.department,
                      "task": t.task, "title": t.title, "text": t.text, "due_at": iso(t.due_at),
                      "overdue": t.state != "done" and t.due_at <= now, "state": t.state,
                      "state_zh": STATE_ZH.get(t.state, t.state), "request_id": r.id if r is not None else None,
                      "acknowledged": _ack(r) if r is not None else None, "done_at": iso(t.done_at),
                      "done_by": t.done_by, "note": t.note,
                      "asked": [_attempt(a) for a in attempts.get(int(r.id), [])] if r is not None else []})

    townships: dict[str, dict[str, Any]] = {}
    for r in reqs:
        if r.kind == "task":
            continue
        name = (areas.names([r.area]) or [r.area])[0]
        entry = townships.setdefault(r.area, {"area": r.area, "name": name, "units": []})
        asked = attempts.get(int(r.id), [])
        entry["units"].append({
            "request_id": r.id, "kind": r.kind, "kind_zh": requests.KIND_ZH.get(r.kind, r.kind),
            "level": r.unit_key.split("|", 1)[-1].split(":", 1)[0], "unit": r.unit_name, "state": r.state,
            "state_zh": STATE_ZH.get(r.state, r.state), "acknowledged": _ack(r),
            "silent": r.ack_at is None, "silent_minutes": int((now - r.created_at).total_seconds() // 60)
            if r.ack_at is None else None, "step": int(r.step),
            "asked": [_attempt(a) for a in asked if a.person != "-"], "contacted": _contacted(asked),
            "unreached": [a.detail for a in asked if a.outcome == "unreachable"]})
    board = sorted(townships.values(), key=lambda t: t["area"])
    units = [u for t in board for u in t["units"]]
    summary = {"units": len(units), "acknowledged": sum(1 for u in units if not u["silent"]),
               "silent": sum(1 for u in units if u["silent"]),
               "tasks": len(tasks), "tasks_acknowledged": sum(1 for t in tasks if t["state"] != "open"),
               "tasks_done": sum(1 for t in tasks if t["state"] == "done")}

    chain_ids = await store.chains_of(conn, event_id)
    linked = {int(r.draft_id): r for r in await conn.execute(select(event_drafts)
                                                              .where(event_drafts.c.event_id == event_id))}
    conditions = [drafts.c.id.in_(list(linked))] if linked else []
    if chain_ids:
        conditions.append(drafts.c.group_key.in_([f"chain:{c}" for c in chain_ids]))
    draft_rows = list(await conn.execute(select(drafts).where(or_(*conditions)).order_by(drafts.c.id))) \
        if conditions else []
    draft_items = []
    for d in draft_rows:
        link = linked.get(int(d.id))
        signs = [a for a in await conn.execute(select(approvals).where(approvals.c.draft_id == d.id))]
        audiences = sorted({f"{m.audience}:{m.channel}" for m in await conn.execute(
            select(messages.c.audience, messages.c.channel).where(messages.c.draft_id == d.id))})
        draft_items.append({
            "id": d.id, "kind": d.kind, "kind_zh": DRAFT_KIND_ZH.get(d.kind, d.kind), "state": d.state,
            "state_zh": DRAFT_STATE_ZH.get(d.state, d.state), "level": d.level, "created_at": iso(d.created_at),
            "created_by": d.created_by, "decided_at": iso(d.decided_at), "decided_by": d.decided_by,
            "skeleton": link.skeleton if link is not None else None,
            "department": link.department if link is not None else None,
            "rumour_id": link.rumour_id if link is not None else None, "targets": audiences,
            "reviewed_by": sorted({a.user_name for a in signs if a.decision == "review"}),
            "signed_off_by": sorted({a.user_name for a in signs if a.decision == "sign_off"}),
            "approved_by": sorted({a.user_name for a in signs if a.decision == "approve"}),
            "deliveries": await count_for_draft(conn, int(d.id))})

    alert_rows = list(await conn.execute(select(alerts).where(alerts.c.chain_id.in_(chain_ids)).order_by(alerts.c.id))) \
        if chain_ids else []
    rumour_rows = list(await conn.execute(select(rumours).where(rumours.c.event_id == event_id).order_by(rumours.c.id)))

    timeline = [{"at": iso(e.at), "kind": e.kind, "text": e.text, "actor": e.actor, "ref": e.ref}
                for e in await store.log_entries(conn, event_id)]
    for d in draft_items:
        if d["rumour_id"] is None and d["skeleton"] is None:
            timeline.append({"at": d["created_at"], "kind": "draft", "actor": d["created_by"], "ref": f"draft:{d['id']}",
                             "text": f"{d['kind_zh']}消息 #{d['id']} 已起草"})
        if d["decided_at"]:
            timeline.append({"at": d["decided_at"], "kind": "draft", "actor": d["decided_by"] or "",
                             "ref": f"draft:{d['id']}",
                             "text": f"{d['kind_zh']}消息 #{d['id']} {d['state_zh']}（{d['decided_by']}）"})
    timeline.sort(key=lambda e: (e["at"] or "", e["kind"] != "opened"))
    for e in timeline:
        e["local"] = local(_parse(e["at"]))

    return {
        "id": event.id, "title": event.title, "hazard": event.hazard, "level": event.level,
        "areas": [{"code": c, "name": (areas.names([c]) or [c])[0]} for c in event.areas or []],
        "state": event.state, "origin": event.origin, "opened_at": iso(event.opened_at), "opened_by": event.opened_by,
        "closed_at": iso(event.closed_at), "closed_by": event.closed_by, "close_note": event.close_note,
        "chains": chain_ids,
        "alerts": [{"id": a.id, "identifier": a.identifier, "msg_type": a.msg_type, "level": a.level,
                    "headline": a.headline, "state": a.state, "received_at": iso(a.received_at)} for a in alert_rows],
        "summary": summary, "tasks": tasks, "acknowledgements": board, "drafts": draft_items,
        "rumours": [{"id": r.id, "claim": r.claim, "seen_where": r.seen_where, "seen_at": iso(r.seen_at),
                     "recorded_by": r.recorded_by, "recorded_at": iso(r.recorded_at), "state": r.state}
                    for r in rumour_rows],
        "timeline": timeline,
    }


def _attempt(a: Any) -> dict[str, Any]:
    return {"at": iso(a.at), "step": a.step_kind, "person": a.person_name, "channel": a.channel,
            "address": a.address_hint, "outcome": a.outcome, "detail": a.detail}


def _contacted(attempts: list[Any]) -> list[dict[str, Any]]:
    """Who was asked, each once, with every time and channel: 镇长 张三 — 短信 05:35、短信 05:45."""
    people: dict[str, dict[str, Any]] = {}
    for a in attempts:
        if a.person == "-":
            continue
        entry = people.setdefault(a.person, {"person": a.person_name, "times": []})
        mark = "" if a.outcome == "sent" else "（未送达）"
        entry["times"].append(f"{CHANNEL_ZH.get(a.channel, a.channel)} {local(a.at)[11:]}{mark}")
    return list(people.values())


def _parse(value: str | None) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value) if value else None


def summary_row(row: Any, counts: dict[str, int] | None = None) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "hazard": row.hazard, "level": row.level, "state": row.state,
            "origin": row.origin, "opened_at": iso(row.opened_at), "closed_at": iso(row.closed_at),
            "areas": list(row.areas or []), **(counts or {})}


async def silent_counts(conn: AsyncConnection, event_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per event: units asked and still silent, for the list of events."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: {"units": 0, "silent": 0})
    if not event_ids:
        return out
    from alerts.store.tables import ack_requests

    for r in await conn.execute(select(ack_requests.c.event_id, ack_requests.c.kind, ack_requests.c.ack_at)
                                .where(ack_requests.c.event_id.in_(event_ids))):
        if r.kind == "task":
            continue
        out[int(r.event_id)]["units"] += 1
        if r.ack_at is None:
            out[int(r.event_id)]["silent"] += 1
    return out
