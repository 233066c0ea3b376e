"""What people do to an event from the console or the API: open, close, acknowledge, complete a task.

Every action checks its permission here, on the server; the pages only hide what is refused anyway.
"""

from __future__ import annotations

from typing import Any

from alerts.events import acks, opening, requests, store
from alerts.events.links import read_token
from alerts.model import level_rank
from alerts.store.users import User
from alerts.workflow import audit
from alerts.workflow.actions import NotFound
from alerts.workflow.policy import Refused


class EventActions:
    def __init__(self, desk: Any):
        self.desk = desk
        self.service = desk.service

    def _member(self, user: User, department: str) -> bool:
        dept = self.desk.departments.departments.get(department)
        return dept is not None and user.name in dept.members

    async def open(self, user: User, *, title: str, hazard: str | None, level: str | None, areas: list[str],
                   origin: str) -> int:
        self.service.policy.require(user, "manage_events")
        if hazard is not None and hazard not in self.service.hazards.keys():
            raise Refused(f"unknown hazard {hazard!r}: use a key of hazards.yaml such as rainstorm", 422)
        if level is not None and level_rank(level) == 0:
            raise Refused(f"unknown level {level!r}: blue, yellow, orange or red", 422)
        codes = []
        for a in areas:
            code = self.service.areas.code_for(a)
            if code is None:
                raise Refused(f"area {a!r} is not a township code or name of areas.yaml", 422)
            codes.append(code)
        codes = sorted(set(codes)) or sorted(self.service.areas.townships)
        title = title.strip() or self.desk.texts.title(hazard, level, codes)
        async with self.service.db.write() as conn:
            return await opening.open_by_hand(self.desk, conn, title=title[:200], hazard=hazard, level=level,
                                              areas=codes, by=user.name, origin=origin, now=self.service.clock.now())

    async def close(self, user: User, event_id: int, note: str, *, origin: str) -> None:
        self.service.policy.require(user, "manage_events")
        async with self.service.db.write() as conn:
            if await store.get_event(conn, event_id) is None:
                raise NotFound(f"no event {event_id}")
            if not await opening.close(conn, event_id, by=user.name, note=note.strip()[:500], origin=origin,
                                       now=self.service.clock.now()):
                raise Refused(f"event {event_id} is already closed", 409)

    async def acknowledge(self, user: User, event_id: int, request_id: int, note: str, *, origin: str) -> None:
        """Record an acknowledgement given another way (a phone call to the duty officer), or a department's
        acknowledgement of its own task."""
        async with self.service.db.write() as conn:
            row = await requests.get(conn, request_id)
            if row is None or int(row.event_id) != event_id:
                raise NotFound(f"event {event_id} has no acknowledgement request {request_id}")
            task = await store.get_task(conn, int(row.task_id)) if row.task_id is not None else None
            own_task = task is not None and self.service.policy.can(user, "work_tasks") and self._member(user, task.department)
            if not (own_task or self.service.policy.can(user, "manage_events")):
                raise Refused(f"'{user.name}' may not record this acknowledgement: it needs manage_events, or "
                              "work_tasks as a member of the task's department (departments.yaml members)")
            answer = requests.Answer(by=user.display_name or user.name, person=f"u:{user.name}", via="console",
                                     text=note.strip()[:200])
            if not await acks.acknowledge_request(conn, request_id, answer, at=self.service.clock.now()):
                raise Refused(f"request {request_id} is already acknowledged", 409)
            await audit.append(conn, at=self.service.clock.now(), actor=user.name, action="event.acknowledged",
                               target=f"event:{event_id}", origin=origin, after={"request": request_id, "note": note[:200]})

    async def task_done(self, user: User, event_id: int, task_id: int, note: str, *, origin: str) -> None:
        async with self.service.db.write() as conn:
            task = await store.get_task(conn, task_id)
            if task is None or int(task.event_id) != event_id:
                raise NotFound(f"event {event_id} has no task {task_id}")
            if not ((self.service.policy.can(user, "work_tasks") and self._member(user, task.department))
                    or self.service.policy.can(user, "manage_events")):
                raise Refused(f"'{user.name}' may not complete a task of {task.department}: it needs work_tasks as a "
                              "member of that department (departments.yaml members), or manage_events")
            now = self.service.clock.now()
            if not await store.set_task_state(conn, task_id, "done", at=now, by=user.name, note=note.strip()[:500]):
                raise Refused(f"task {task_id} is already done", 409)
            # Done means received too: its escalation stops.
            for r in await requests.of_event(conn, event_id):
                if r.task_id is not None and int(r.task_id) == task_id and r.ack_at is None:
                    await acks.acknowledge_request(conn, int(r.id), requests.Answer(
                        user.display_name or user.name, f"u:{user.name}", "console", "已完成"), at=now)
            await store.log(conn, event_id, at=now, actor=user.name, kind="task",
                            text=f"{user.name} 完成任务：{task.title}" + (f"（{note.strip()[:100]}）" if note.strip() else ""),
                            ref=f"task:{task_id}")
            await audit.append(conn, at=now, actor=user.name, action="event.task_done", target=f"event:{event_id}",
                               origin=origin, after={"task": task_id, "note": note[:200]})

    async def acknowledge_link(self, token: str, *, origin: str) -> tuple[str, Any | None]:
        """A click on a signed link: ('ok' | 'already' | 'invalid', the request row)."""
        key = self.desk.link_key
        now = self.service.clock.now()
        claim = read_token(key, token, now=now) if key is not None else None
        if claim is None:
            return "invalid", None
        async with self.service.db.write() as conn:
            row = await requests.get(conn, claim.request_id)
            if row is None:
                return "invalid", None
            name = await self._person_name(conn, claim.request_id, claim.person)
            ok = await acks.acknowledge_request(conn, claim.request_id,
                                                requests.Answer(name, claim.person, "link"), at=now)
            if ok:
                await audit.append(conn, at=now, actor=f"link:{claim.person}"[:100], action="event.acknowledged",
                                   target=f"event:{row.event_id}", origin=origin, after={"request": claim.request_id})
            return ("ok" if ok else "already"), await requests.get(conn, claim.request_id)

    async def _person_name(self, conn: Any, request_id: int, person: str) -> str:
        for a in await requests.notified_people(conn, request_id):
            if a.person == person:
                return str(a.person_name)
        return person
