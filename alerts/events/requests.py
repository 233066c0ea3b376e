"""Acknowledgement requests and their attempts: what must be acknowledged, who was asked, who answered.

Acknowledging is compare-and-set (waiting → acknowledged): the first answer counts, later ones
are noted as already acknowledged; an acknowledged task request also acknowledges its task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.events import store
from alerts.store.tables import ack_attempts, ack_requests, events

VIA_ZH = {"sms": "短信回复", "voice": "语音按键", "link": "一键确认链接", "console": "控制台登记"}
KIND_ZH = {"task": "部门任务", "callout": "叫应", "institution": "单位确认"}


@dataclass(frozen=True)
class Answer:
    by: str  # the person's name, or the console user's
    person: str  # person key, or "u:<user>" for a console entry
    via: str  # sms, voice, link, console
    text: str = ""


async def create(conn: AsyncConnection, *, event_id: int, kind: str, unit_key: str, unit_name: str, area: str,
                 at: datetime, task_id: int | None = None) -> int | None:
    """A new waiting request whose first notice is due now; None when the event already has one for the unit."""
    result = await conn.execute(store.insert_for(conn, ack_requests).values(
        event_id=event_id, kind=kind, unit_key=unit_key[:300], unit_name=unit_name[:200], area=area,
        task_id=task_id, state="waiting", step=-1, next_at=at, created_at=at).on_conflict_do_nothing()
        .returning(ack_requests.c.id))
    row = result.first()
    return int(row.id) if row else None


async def get(conn: AsyncConnection, request_id: int) -> Any | None:
    return (await conn.execute(select(ack_requests).where(ack_requests.c.id == request_id))).first()


async def due(conn: AsyncConnection, now: datetime, limit: int = 200) -> list[Any]:
    return list(await conn.execute(
        select(ack_requests).where(and_(ack_requests.c.state == "waiting", ack_requests.c.next_at <= now))
        .order_by(ack_requests.c.next_at, ack_requests.c.id).limit(limit)))


async def claim_step(conn: AsyncConnection, request_id: int, *, current: int, next_at: datetime | None) -> bool:
    """Move a waiting request from step `current` to the next; False when another process did, or it was answered."""
    result = await conn.execute(update(ack_requests).where(and_(
        ack_requests.c.id == request_id, ack_requests.c.step == current, ack_requests.c.state == "waiting"))
        .values(step=current + 1, next_at=next_at))
    return bool(result.rowcount)


async def hurry(conn: AsyncConnection, request_id: int, at: datetime) -> None:
    """Nobody could be reached at this step: the next one is due now, not after the wait."""
    await conn.execute(update(ack_requests).where(and_(ack_requests.c.id == request_id,
                                                       ack_requests.c.state == "waiting",
                                                       ack_requests.c.next_at.is_not(None)))
                       .values(next_at=at))


async def record_attempt(conn: AsyncConnection, *, request_id: int, step: int, step_kind: str, at: datetime,
                         person: str, person_name: str, channel: str, address_hint: str, outcome: str,
                         detail: str = "", phone: str | None = None) -> None:
    await conn.execute(ack_attempts.insert().values(
        request_id=request_id, step=step, step_kind=step_kind, at=at, person=person[:120],
        person_name=person_name[:200], channel=channel, address_hint=address_hint[:100], phone=phone,
        outcome=outcome, detail=detail[:500]))


async def of_event(conn: AsyncConnection, event_id: int) -> list[Any]:
    return list(await conn.execute(select(ack_requests).where(ack_requests.c.event_id == event_id)
                                   .order_by(ack_requests.c.kind, ack_requests.c.area, ack_requests.c.unit_key)))


async def attempts_of(conn: AsyncConnection, request_ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {rid: [] for rid in request_ids}
    if not request_ids:
        return out
    for row in await conn.execute(select(ack_attempts).where(ack_attempts.c.request_id.in_(request_ids))
                                  .order_by(ack_attempts.c.at, ack_attempts.c.id)):
        out[int(row.request_id)].append(row)
    return out


async def notified_people(conn: AsyncConnection, request_id: int) -> list[Any]:
    return list(await conn.execute(select(ack_attempts).where(ack_attempts.c.request_id == request_id)
                                   .order_by(ack_attempts.c.id)))


async def acknowledge(conn: AsyncConnection, request_id: int, answer: Answer, *, at: datetime) -> bool:
    """waiting → acknowledged, with who, how and when; logged on the event. False when already answered."""
    row = await get(conn, request_id)
    if row is None:
        return False
    result = await conn.execute(update(ack_requests).where(and_(
        ack_requests.c.id == request_id, ack_requests.c.state.in_(("waiting", "stopped")),
        ack_requests.c.ack_at.is_(None)))
        .values(state="acknowledged", ack_at=at, ack_by=answer.by[:200], ack_person=answer.person[:120],
                ack_via=answer.via, ack_text=answer.text[:200], next_at=None))
    if not result.rowcount:
        return False
    if row.task_id is not None:
        await store.set_task_state(conn, int(row.task_id), "acknowledged", at=at)
    await store.log(conn, int(row.event_id), at=at, actor=answer.person, kind="ack",
                    text=f"{KIND_ZH.get(row.kind, row.kind)}：{row.unit_name} 由{answer.by}"
                         f"以{VIA_ZH.get(answer.via, answer.via)}确认收到" + (f"（{answer.text}）" if answer.text else ""),
                    ref=f"request:{request_id}")
    return True


async def waiting_for(conn: AsyncConnection, phone: str) -> list[Any]:
    """Unanswered requests of open events with a notice sent to this number, and the attempt that sent it."""
    sent = (select(ack_attempts.c.request_id, func.max(ack_attempts.c.id).label("attempt_id"))
            .where(ack_attempts.c.phone == phone).group_by(ack_attempts.c.request_id).subquery())
    return list(await conn.execute(
        select(ack_requests, ack_attempts.c.person.label("attempt_person"),
               ack_attempts.c.person_name.label("attempt_name"))
        .join(sent, sent.c.request_id == ack_requests.c.id)
        .join(ack_attempts, ack_attempts.c.id == sent.c.attempt_id)
        .join(events, events.c.id == ack_requests.c.event_id)
        .where(and_(ack_requests.c.ack_at.is_(None), ack_requests.c.state.in_(("waiting", "stopped")),
                    events.c.state == "open"))
        .order_by(ack_requests.c.id)))


async def stop_for_event(conn: AsyncConnection, event_id: int, *, at: datetime) -> int:
    """No more escalation for the event's unanswered requests (closed, or its warning cancelled)."""
    result = await conn.execute(update(ack_requests).where(and_(ack_requests.c.event_id == event_id,
                                                                ack_requests.c.state == "waiting"))
                                .values(state="stopped", next_at=None))
    return int(result.rowcount or 0)


async def stop_for_event_kinds(conn: AsyncConnection, event_id: int, kinds: tuple[str, ...]) -> int:
    result = await conn.execute(update(ack_requests).where(and_(ack_requests.c.event_id == event_id,
                                                                ack_requests.c.kind.in_(kinds),
                                                                ack_requests.c.state == "waiting"))
                                .values(state="stopped", next_at=None))
    return int(result.rowcount or 0)
