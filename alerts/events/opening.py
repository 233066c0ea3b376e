"""Opening, joining and closing events; what an event starts: department tasks and acknowledgement requests.

Called inside the transaction that stores an alert, so an alert and its event commit together.
Starting is idempotent (one task per department and task, one request per unit), so an Update
that raises the level adds only what the higher level asks for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.events import people, requests, store
from alerts.model import Alert, level_rank
from alerts.store.tables import alerts as alerts_table
from alerts.workflow import audit

EVENT_OPENING_LOCK = 0x5E7E1  # any constant, the same in every replica


def opens(desk: Any, alert: Alert) -> bool:
    """Does this alert call for an event: a warning at the configured level or above, or an emergency notice?"""
    cfg = desk.config.open
    if alert.is_exercise or alert.msg_type == "Cancel":
        return False
    level = alert.level.value if alert.level else None
    return level_rank(level) >= level_rank(cfg.min_level) or (alert.hazard or "") in cfg.emergency_hazards


async def on_alert(desk: Any, conn: AsyncConnection, alert: Alert, *, alert_id: int, chain_id: int,
                   areas: list[str], now: datetime) -> int | None:
    """The event this alert belongs to after it arrived (opened, joined or updated), or None."""
    event_id = await store.event_for_chain(conn, chain_id)
    headline = (alert.primary_info().headline if alert.primary_info() else "") or alert.identifier
    if alert.msg_type == "Cancel":
        if event_id is not None:
            await _cancelled(conn, event_id, chain_id, headline, now)
        return event_id
    joined = None
    if event_id is None:
        if not opens(desk, alert):
            return None
        event_id, joined = await _open_event_for(desk, conn, alert, areas, now)
        await store.link_chain(conn, event_id, chain_id, now)
    level = alert.level.value if alert.level else None
    raised, event = await store.raise_level_and_read(conn, event_id, level=level, areas=areas, at=now, row=joined)
    await store.log(conn, event_id, at=now, actor="system", kind="alert",
                    text=f"收到预警：{headline}" + ("（级别提高）" if raised else ""), ref=f"alert:{alert_id}")
    await start(desk, conn, event_id, now, event=event)
    return event_id


async def _open_event_for(desk: Any, conn: AsyncConnection, alert: Alert, areas: list[str],
                          now: datetime) -> tuple[int, Any | None]:
    """An open event of the same hazard takes the chain (one rainstorm over the city is one emergency, also
    when warned township by township; its areas widen); otherwise a new event opens.
    (event id, its row when an open event was joined: read in this transaction, not read again)."""
    if conn.dialect.name == "postgresql":
        # Replicas storing two warnings of one hazard at once must not open two events: the search and
        # the opening are serialised until this transaction commits (SQLite has one writer anyway).
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": EVENT_OPENING_LOCK})
    for ev in await store.open_events(conn):
        if ev.hazard is not None and ev.hazard == alert.hazard:
            await store.log(conn, int(ev.id), at=now, actor="system", kind="linked",
                            text="同一灾种的又一条预警并入本事件")
            return int(ev.id), ev
    level = alert.level.value if alert.level else None
    origin = "warning" if level_rank(level) >= level_rank(desk.config.open.min_level) else "emergency"
    title = desk.texts.title(alert.hazard, level, areas)
    event_id = await store.create_event(conn, title=title, hazard=alert.hazard, level=level, areas=areas,
                                        origin=origin, by="system", at=now)
    await store.log(conn, event_id, at=now, actor="system", kind="opened", text=f"事件自动开启：{title}")
    await audit.append(conn, at=now, actor="system", action="event.opened", target=f"event:{event_id}",
                       origin="pipeline", after={"title": title, "hazard": alert.hazard, "level": level, "areas": areas})
    return event_id, None


async def open_by_hand(desk: Any, conn: AsyncConnection, *, title: str, hazard: str | None, level: str | None,
                       areas: list[str], by: str, origin: str, now: datetime) -> int:
    event_id = await store.create_event(conn, title=title, hazard=hazard, level=level, areas=areas, origin="manual",
                                        by=by, at=now)
    await store.log(conn, event_id, at=now, actor=by, kind="opened", text=f"{by} 手动开启事件：{title}")
    await audit.append(conn, at=now, actor=by, action="event.opened", target=f"event:{event_id}", origin=origin,
                       after={"title": title, "hazard": hazard, "level": level, "areas": areas})
    await start(desk, conn, event_id, now)
    return event_id


async def close(conn: AsyncConnection, event_id: int, *, by: str, note: str, origin: str, now: datetime) -> bool:
    if not await store.close_event(conn, event_id, by=by, note=note, at=now):
        return False
    stopped = await requests.stop_for_event(conn, event_id, at=now)
    await store.log(conn, event_id, at=now, actor=by, kind="closed",
                    text=f"{by} 关闭事件" + (f"：{note}" if note else "") + (f"；停止 {stopped} 项未确认的催办" if stopped else ""))
    await audit.append(conn, at=now, actor=by, action="event.closed", target=f"event:{event_id}", origin=origin,
                       after={"note": note, "stopped_requests": stopped})
    return True


async def _cancelled(conn: AsyncConnection, event_id: int, chain_id: int, headline: str, now: datetime) -> None:
    chains = await store.chains_of(conn, event_id)
    active = (await conn.execute(select(func.count()).select_from(alerts_table).where(and_(
        alerts_table.c.chain_id.in_(chains), alerts_table.c.state == "active")))).scalar_one()
    text = f"预警解除：{headline}"
    if not active:
        stopped = await requests.stop_for_event_kinds(conn, event_id, ("callout", "institution"))
        text += f"；叫应停止（{stopped} 个单位未确认）" if stopped else "；叫应停止"
    await store.log(conn, event_id, at=now, actor="system", kind="alert", text=text, ref=f"chain:{chain_id}")


async def start(desk: Any, conn: AsyncConnection, event_id: int, now: datetime, *,
                event: Any | None = None) -> dict[str, int]:
    """Create what the event's level and areas call for and is not there yet; counts of what was added.
    `event` is the event's row when the caller has just read (and written) it in this transaction."""
    if event is None:
        event = await store.get_event(conn, event_id)
    added = {"tasks": 0, "callouts": 0, "institutions": 0}
    if event is None or event.state != "open":
        return added
    # Most alerts join an event that has its tasks already: one read spares an insert attempt per task
    # (the unique constraint and add_task's ON CONFLICT still settle a race).
    existing = await store.task_keys(conn, event_id)
    for entry in desk.departments.tasks_for(event.hazard, event.level):
        if (entry.department, entry.task) in existing:
            continue
        dept = desk.departments.departments[entry.department]
        sk = desk.skeletons.get("task", entry.task)
        title = sk.title if sk is not None else entry.task
        due = now + timedelta(minutes=entry.due_minutes)
        try:
            text = desk.texts.task_text(entry.task, entry.department, event, due, channel="sms")
        except Exception as exc:  # noqa: BLE001 - a broken task notice must not stop the others; it is reported
            text = f"（任务通知无法生成：{exc}）"
        task_id = await store.add_task(conn, event_id, store.NewTask(entry.department, entry.task, title, text, due), now)
        if task_id is None:
            continue
        added["tasks"] += 1
        await requests.create(conn, event_id=event_id, kind="task", unit_key=f"task:{task_id}",
                              unit_name=f"{dept.short}：{title}", area="", at=now, task_id=task_id)
    areas = list(event.areas or [])
    cfg = desk.config
    callout = event.level in cfg.callout.levels
    institutions = event.level in cfg.institutions.levels
    if callout or institutions:
        for p in await people.in_areas(conn, areas):
            if p.level == "duty_office":
                continue
            urgent = callout and p.level in cfg.callout.units and (
                p.level != "institution" or p.kind in cfg.callout.institution_kinds)
            kind = "callout" if urgent else "institution" if institutions and p.level == "institution" else None
            if kind is None:
                continue
            unit = people.unit_key(p.level, p.area, p.unit)
            if await requests.create(conn, event_id=event_id, kind=kind, unit_key=f"{kind}|{unit}",
                                     unit_name=_unit_name(desk, p), area=p.area, at=now) is not None:
                added["callouts" if kind == "callout" else "institutions"] += 1
    if any(added.values()):
        parts = [f"{label} {added[k]} 项" for k, label in (("tasks", "部门任务"), ("callouts", "叫应单位"),
                                                          ("institutions", "单位确认")) if added[k]]
        await store.log(conn, event_id, at=now, actor="system", kind="started", text="已生成：" + "，".join(parts))
    return added


def _unit_name(desk: Any, p: Any) -> str:
    township = (desk.service.areas.names([p.area]) or [p.area])[0]
    if p.level == "township":
        return township
    return f"{township}{p.unit}"
