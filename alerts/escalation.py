"""Reminders and escalation: a waiting draft notifies the duty approvers, then the backups, each step once.

Each step is claimed in the `escalations` table (unique per draft and step) before anyone is
notified, so several replicas running this job never notify twice; a crash between the claim
and the send loses that one reminder (at most once), which the audit log shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.channels.base import Ok, Outbound, send_timed
from alerts.clock import local
from alerts.content.hazards import default_hazards
from alerts.model import LEVEL_ZH
from alerts.recipients import mask_phone
from alerts.store import drafts as draft_store
from alerts.store import users as user_store
from alerts.store.tables import escalations
from alerts.workflow import audit

log = logging.getLogger("alerts.escalation")
AUTO_RELEASE_STEP = -1  # the auto-release is recorded like a step, so it too happens once


@dataclass
class Notice:
    draft_id: int
    step: int
    notify: str
    reached: list[str] = field(default_factory=list)  # user names a channel accepted
    missed: list[str] = field(default_factory=list)  # "name: why"


@dataclass
class EscalationReport:
    notices: list[Notice] = field(default_factory=list)
    released: list[int] = field(default_factory=list)


async def claim_step(conn: AsyncConnection, draft_id: int, step: int, at: datetime) -> bool:
    """True only for the first process to claim this step of this draft."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    result = await conn.execute(insert(escalations).values(draft_id=draft_id, step=step, at=at).on_conflict_do_nothing())
    return bool(result.rowcount)


def reminder_values(draft: Any, waited_minutes: float, notify: str) -> dict[str, str]:
    """The reminder's variables: each always has a value, because a registered SMS template has no
    optional parts (templates/tasks/approval_reminder.yml, config/sms_providers.yaml)."""
    hazard = default_hazards().get(draft.hazard or "")
    level = {lv.value: zh for lv, zh in LEVEL_ZH.items()}.get(draft.level or "", "")
    other = {"policy": "政策解读", "rumour_response": "辟谣回应"}.get(draft.kind, "宣传")  # events' drafts
    what = f"{hazard.zh if hazard else (draft.hazard or '')}{level}预警" if draft.hazard else other
    return {
        "what": f"演练：{what}" if draft.exercise else what,
        "number": str(draft.id),
        "minutes": str(int(waited_minutes)),
        "deadline": f"预警{local(draft.expires_at)}失效" if draft.expires_at else "预警未注明失效时间",
        "who": "备班审批人" if notify == "backup" else "值班审批人",
    }


def reminder_text(draft: Any, waited_minutes: float, step: int, notify: str) -> str:
    """The reminder as plain text, when the approval_reminder skeleton is missing (Twilio or log only)."""
    v = reminder_values(draft, waited_minutes, notify)
    # No link: mainland carriers block URLs in notification SMS.
    return (f"待审批提醒：{v['what']}科普消息第{v['number']}号已等待{v['minutes']}分钟，{v['deadline']}。"
            f"请{v['who']}尽快登录应急科普审批控制台处理。")


class Escalator:
    def __init__(self, service: Any, *, wake: Callable[[], None] | None = None):
        self.service = service
        self.wake = wake
        self._skeleton: Any = None

    def reminder(self, draft: Any, waited: float, step: int, notify: str) -> tuple[str, str, dict[str, str] | None]:
        """(text, template id, variables): through a domestic provider only a registered template goes
        out, so the reminder is the reviewed skeleton reminder.approval_reminder filled in."""
        from alerts.events.registered import sms_notice
        from alerts.events.skeletons import Skeletons

        if self._skeleton is None:
            found = Skeletons.load(self.service.settings.templates_dir).get("reminder", "approval_reminder")
            self._skeleton = found if found is not None else False
        if not self._skeleton:
            return reminder_text(draft, waited, step, notify), "", None
        notice = sms_notice(self._skeleton, reminder_values(draft, waited, notify))
        return notice.text, notice.template_id, notice.params

    @property
    def config(self) -> Any:
        return self.service.settings.workflow

    async def run_once(self) -> EscalationReport:
        """One pass over pending drafts: due reminders, due escalations, a due auto-release."""
        report = EscalationReport()
        now = self.service.clock.now()
        async with self.service.db.read() as conn:
            pending = await draft_store.by_state(conn, ("pending",))
        for draft in pending:
            if draft.expires_at is not None and draft.expires_at <= now:
                continue  # the expiry sweep ends it; nobody needs waking for it
            waited = (now - draft.created_at).total_seconds() / 60
            for index, step in enumerate(self.config.escalation.steps_for(draft.level)):
                if waited < step.after_minutes:
                    break
                async with self.service.db.write() as conn:
                    claimed = await claim_step(conn, draft.id, index, now)
                if claimed:
                    report.notices.append(await self._notify(draft, index, step.notify, waited))
            released = await self._auto_release(draft, waited, now)
            if released:
                report.released.append(draft.id)
        if report.released and self.wake is not None:
            self.wake()
        return report

    async def _notify(self, draft: Any, index: int, notify: str, waited: float) -> Notice:
        notice = Notice(draft.id, index, notify)
        roster = {p.user: p for p in self.config.duty.people(notify)}
        names = list(roster)
        text, template_id, params = self.reminder(draft, waited, index, notify)
        async with self.service.db.read() as conn:
            people = {n: await user_store.by_name(conn, n) for n in names}
        for name, user in people.items():
            phone = (user.phone if user is not None else None) or roster[name].phone
            if user is None and phone:
                # Page the roster's phone anyway: someone on duty must hear of a waiting warning.
                notice.missed.append(f"{name}: no such user yet — paged by the phone in workflow.yaml; "
                                     "create the user (alerts users add) so they can approve")
            elif user is None or user.disabled:
                notice.missed.append(f"{name}: no such active user")
                continue
            elif not self.service.policy.can(user, "approve"):
                notice.missed.append(f"{name}: cannot approve (check the duty roster in workflow.yaml)")
                continue
            for channel_name in self.config.escalation.channels:
                channel = self.service.channels.get(channel_name)
                if channel is None or channel_name != "sms":
                    notice.missed.append(f"{name}: channel {channel_name} is not available for reminders")
                    continue
                if not phone:
                    notice.missed.append(f"{name}: no phone on record (alerts users add ... --phone, or phone: "
                                         "in the duty roster of workflow.yaml)")
                    continue
                item = Outbound(delivery_id=0, message_id=0, draft_id=draft.id, channel="sms", address=phone,
                                text=text, exercise=bool(draft.exercise), title="待审批提醒",
                                template_id=template_id, params=params)
                timed = await send_timed(channel, item)
                if isinstance(timed.outcome, Ok):
                    notice.reached.append(name)
                else:
                    notice.missed.append(f"{name} ({mask_phone(phone)}): {timed.outcome.reason}")
        if not names:
            notice.missed.append(f"nobody is on the {notify} duty list in workflow.yaml")
        level = logging.INFO if notice.reached else logging.WARNING
        log.log(level, "draft %s step %s (%s): reached %s; missed %s", draft.id, index, notify, notice.reached,
                notice.missed)
        async with self.service.db.write() as conn:
            await audit.append(conn, at=self.service.clock.now(), actor="system", action="draft.escalated",
                               target=f"draft:{draft.id}", origin="escalation",
                               after={"step": index, "notify": notify, "waited_minutes": round(waited, 1),
                                      "reached": notice.reached, "missed": notice.missed})
        return notice

    async def _auto_release(self, draft: Any, waited: float, now: datetime) -> bool:
        minutes = self.config.escalation.auto_release_red_after_minutes
        if minutes is None or draft.level != "red" or waited < minutes:
            return False
        async with self.service.db.write() as conn:
            if not await claim_step(conn, draft.id, AUTO_RELEASE_STEP, now):
                return False
        decision = await self.service.actions.auto_release(draft.id, after_minutes=minutes)
        if decision is None:
            log.warning("draft %s: red warning waited %.0f min but is not eligible for auto-release "
                        "(edited or unreviewed texts); it still needs a person", draft.id, waited)
            return False
        log.warning("draft %s: red warning auto-released after %.0f minutes without a decision", draft.id, waited)
        return True
