"""The acknowledgement job: first notices, then escalation of silence, step by step, until someone answers.

Each due request moves one step with a compare-and-set on its step number before anyone is
contacted, so replicas running this job never send a step twice (a crash between the claim and
the send loses that one notice, which the attempts show). Step kinds say whom to reach:

    first        the unit's first-ranked persons (tasks: the department's on-duty contacts and IM group)
    repeat       the same persons again, by the first channel of the step the service and the person have
    next         the next rank of the unit's roster (tasks: the department's other contacts)
    duty_office  the township's duty office (tasks: the emergency bureau's on-duty officers)

A channel is plugged in by name: "voice" is used as soon as the service has a channel of that
name and the person takes calls; until then the step falls through to the next channel listed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select

from alerts.channels.base import Ok, Outbound, send_timed
from alerts.channels.webhook import KINDS as IM_KINDS
from alerts.events import people, requests, store
from alerts.events.departments import on_duty
from alerts.events.skeletons import SkeletonError
from alerts.recipients import mask_phone
from alerts.settings.events import EscalationPolicy
from alerts.store import problems as problem_store
from alerts.store.tables import contacts, organisations

log = logging.getLogger("alerts.events.escalation")
PHONE_CHANNELS = ("sms", "voice")
STEP_ZH = {"first": "首次通知", "repeat": "再次呼叫", "next": "转下一责任人", "duty_office": "报乡镇值班室",
           "silent": "仍未确认"}
CHANNEL_ZH = {"sms": "短信", "voice": "语音电话", "im": "工作群"}
SENDS_AT_ONCE = 16
BATCH = 200
MAX_BATCHES = 50


@dataclass(frozen=True)
class Target:
    person: str  # "p:<roster key>", "d:<department>:<contact>", "g:<organisation key>"
    name: str
    phone: str | None = None
    channels: tuple[str, ...] = ("sms",)
    rank: int = 1


@dataclass
class RunReport:
    steps: int = 0
    attempts: int = 0
    reached: int = 0
    silent: list[int] = field(default_factory=list)


class Escalation:
    def __init__(self, desk: Any):
        self.desk = desk

    @property
    def service(self) -> Any:
        return self.desk.service

    def policy(self, kind: str) -> EscalationPolicy:
        cfg = self.desk.config
        return {"callout": cfg.callout, "institution": cfg.institutions, "task": cfg.tasks}[kind]

    async def run_once(self) -> RunReport:
        report = RunReport()
        now = self.service.clock.now()
        summary: dict[tuple[int, str, str], list[str]] = defaultdict(list)
        # Units are independent: their sends overlap (a provider call takes a while), bounded.
        gate = asyncio.Semaphore(SENDS_AT_ONCE)

        async def one(row: Any) -> None:
            async with gate:
                await self._advance(row, now, report, summary)

        for _ in range(MAX_BATCHES):  # a city-wide red warning has more units than one batch
            async with self.service.db.read() as conn:
                due = await requests.due(conn, now, limit=BATCH)
            await asyncio.gather(*(one(row) for row in due))
            if len(due) < BATCH:
                break
        if summary:
            async with self.service.db.write() as conn:
                for (event_id, kind, step_kind), units in summary.items():
                    shown = "、".join(units[:8]) + (f"等{len(units)}个" if len(units) > 8 else "")
                    await store.log(conn, event_id, at=now, actor="system", kind=kind,
                                    text=f"{requests.KIND_ZH[kind]}·{STEP_ZH[step_kind]}：{shown}")
        return report

    async def _advance(self, row: Any, now: datetime, report: RunReport,
                       summary: dict[tuple[int, str, str], list[str]]) -> None:
        policy = self.policy(row.kind)
        index = int(row.step) + 1  # 0 is the first notice, 1.. the escalation steps
        last = index > len(policy.steps)
        next_at = None if last else now + timedelta(minutes=policy.wait_minutes)
        async with self.service.db.write() as conn:
            if not await requests.claim_step(conn, int(row.id), current=int(row.step), next_at=next_at):
                return
            if last:
                await self._silent(conn, row, now)
                report.silent.append(int(row.id))
                summary[(int(row.event_id), row.kind, "silent")].append(row.unit_name)
                return
        kind = "first" if index == 0 else policy.steps[index - 1].kind
        channels = policy.first_channels if index == 0 else policy.steps[index - 1].channels
        reached = await self._step(row, index, kind, list(channels), now, report)
        report.steps += 1
        summary[(int(row.event_id), row.kind, kind)].append(row.unit_name)
        if not reached:
            async with self.service.db.write() as conn:
                await requests.hurry(conn, int(row.id), now)

    async def _step(self, row: Any, index: int, kind: str, channels: list[str], now: datetime,
                    report: RunReport) -> bool:
        async with self.service.db.read() as conn:
            targets, why = await self._targets(conn, row, kind)
            event = await store.get_event(conn, int(row.event_id))
            task = await store.get_task(conn, int(row.task_id)) if row.task_id is not None else None
        reached = False
        attempts: list[dict[str, Any]] = []
        if not targets:
            attempts.append(dict(person="-", person_name="-", channel="-", address_hint="", outcome="unreachable",
                                 detail=why))
        for t in targets:
            channel = self._channel_for(t, channels)
            if channel is None:
                attempts.append(dict(person=t.person, person_name=t.name, channel="-", address_hint="",
                                     outcome="unreachable", detail=f"none of {', '.join(channels)} reaches this person"))
                continue
            if channel == "im":
                ok, hint, detail = await self._send_group(row, t, event, task, now)
            else:
                ok, hint, detail = await self._send_phone(row, t, channel, event, task, kind)
            reached = reached or ok
            attempts.append(dict(person=t.person, person_name=t.name, channel=channel, address_hint=hint,
                                 outcome="sent" if ok else "failed", detail=detail,
                                 phone=t.phone if channel in PHONE_CHANNELS else None))
        async with self.service.db.write() as conn:
            for a in attempts:
                await requests.record_attempt(conn, request_id=int(row.id), step=index, step_kind=kind, at=now, **a)
        report.attempts += len(attempts)
        report.reached += sum(1 for a in attempts if a["outcome"] == "sent")
        return reached

    def _channel_for(self, target: Target, channels: list[str]) -> str | None:
        for c in channels:
            if c == "im" and "im" in target.channels:
                return "im"
            if c in PHONE_CHANNELS and c in target.channels and target.phone and c in self.service.channels:
                return c
        return None

    async def _send_phone(self, row: Any, t: Target, channel: str, event: Any, task: Any,
                          kind: str) -> tuple[bool, str, str]:
        assert t.phone is not None
        try:
            notice = self.desk.texts.sms_notice(row, event, task)
        except SkeletonError as exc:
            return False, mask_phone(t.phone), str(exc)[:300]
        # The registered template and its values travel with the text: a domestic SMS provider sends
        # only those (config/sms_providers.yaml, event_templates); voice and Twilio read the text.
        item = Outbound(delivery_id=0, message_id=0, draft_id=0, channel=channel, address=t.phone, text=notice.text,
                        title=requests.KIND_ZH.get(row.kind, "确认"), template_id=notice.template_id,
                        params=notice.params)
        timed = await send_timed(self.service.channels[channel], item)
        if isinstance(timed.outcome, Ok):
            return True, mask_phone(t.phone), ""
        return False, mask_phone(t.phone), getattr(timed.outcome, "reason", str(timed.outcome))[:300]

    async def _send_group(self, row: Any, t: Target, event: Any, task: Any, now: datetime) -> tuple[bool, str, str]:
        org_key = t.person.removeprefix("g:")
        async with self.service.db.read() as conn:
            robots = list(await conn.execute(
                select(contacts.c.id, contacts.c.channel, contacts.c.address_hint)
                .join(organisations, organisations.c.id == contacts.c.organisation_id)
                .where(and_(organisations.c.key == org_key, organisations.c.status == "active",
                            contacts.c.channel.in_(IM_KINDS)))))
        if not robots:
            return False, "", f"organisation {org_key!r} has no IM robot (alerts organisations import)"
        try:
            text = self.desk.texts.notice(row, event, task, channel="im",
                                          link=self.desk.link_for(int(row.id), t.person, now))
        except SkeletonError as exc:
            return False, "", str(exc)[:300]
        ok, problems = False, []
        for r in robots:
            channel = self.service.channels.get(r.channel)
            if channel is None:
                problems.append(f"{r.channel}: no such channel")
                continue
            item = Outbound(delivery_id=0, message_id=0, draft_id=0, channel=r.channel, address=f"contact:{r.id}",
                            text=text, title=requests.KIND_ZH.get(row.kind, "确认"))
            timed = await send_timed(channel, item)
            if isinstance(timed.outcome, Ok):
                ok = True
            else:
                problems.append(f"{r.channel}: {getattr(timed.outcome, 'reason', timed.outcome)}")
        return ok, ", ".join(r.address_hint for r in robots)[:100], "; ".join(problems)[:300]

    async def _targets(self, conn: Any, row: Any, kind: str) -> tuple[list[Target], str]:
        """Whom this step reaches, or nobody and why."""
        if row.kind == "task":
            return await self._task_targets(conn, row, kind)
        sent = [a for a in await requests.notified_people(conn, int(row.id)) if a.person.startswith("p:")]
        if kind == "duty_office":
            found = [_person(p) for p in await people.duty_office(conn, row.area)]
            return found, "the township has no duty office on the roster (alerts people import, level duty_office)"
        roster = [_person(p) for p in await people.of_unit(conn, row.unit_key.split("|", 1)[-1])]
        if not roster:
            return [], "nobody of this unit is on the roster"
        ranks = sorted({t.rank for t in roster})
        asked = {a.person for a in sent}
        asked_ranks = sorted({t.rank for t in roster if t.person in asked})
        if kind == "first" or (kind == "repeat" and not asked_ranks):
            rank = ranks[0]
        elif kind == "repeat":
            rank = asked_ranks[-1]
        else:  # next
            later = [r for r in ranks if not asked_ranks or r > asked_ranks[-1]]
            if not later:
                return [], "nobody further on this unit's roster"
            rank = later[0]
        return [t for t in roster if t.rank == rank], ""

    async def _task_targets(self, conn: Any, row: Any, kind: str) -> tuple[list[Target], str]:
        task = await store.get_task(conn, int(row.task_id))
        departments = self.desk.departments.departments
        now = self.service.clock.now()
        if kind == "duty_office":
            key = self.desk.config.tasks.duty_office
            dept = departments.get(key)
            found = [_contact(key, d.contact) for d in on_duty(key, dept, now)] if dept else []
            return found, f"department {key!r} (tasks.duty_office) has nobody on duty"
        dept = departments.get(task.department) if task is not None else None
        if dept is None:
            return [], f"department {task.department if task else '?'!r} is not in departments.yaml"
        duty = [_contact(task.department, d.contact) for d in on_duty(task.department, dept, now)]
        if kind == "first":
            return duty + [Target(f"g:{g}", f"{dept.short}工作群", channels=("im",)) for g in dept.groups], \
                "nobody is on duty now (departments.yaml roster)"
        if kind == "repeat":
            asked = {a.person for a in await requests.notified_people(conn, int(row.id))}
            again = [t for t in duty if t.person in asked] or duty
            return again, "nobody is on duty now (departments.yaml roster)"
        others = [_contact(task.department, c) for c in dept.contacts if c.key not in {d.contact.key for d in
                                                                                          on_duty(task.department, dept, now)}]
        return others, "the department has no other contacts"

    async def _silent(self, conn: Any, row: Any, now: datetime) -> None:
        what = f"{requests.KIND_ZH.get(row.kind, row.kind)}：{row.unit_name} 经过全部升级步骤仍未确认收到"
        await problem_store.report(
            conn, key=f"event:{row.event_id}:silent:{row.id}", kind="ack_silent",
            severity="critical" if row.kind == "callout" else "warning", subject=f"event:{row.event_id}",
            what=what, why="短信、再次呼叫、下一责任人和值班室均未回复",
            todo="请值班人员电话联系该单位责任人，联系上后在事件页面登记确认", at=now)


def _person(p: Any) -> Target:
    return Target(person=f"p:{p.key}", name=f"{p.role} {p.name}" if p.role else p.name, phone=p.phone,
                  channels=PHONE_CHANNELS, rank=int(p.rank))


def _contact(department: str, c: Any) -> Target:
    return Target(person=f"d:{department}:{c.key}", name=c.name, phone=c.phone, channels=tuple(c.channels))
