"""Decisions on drafts: approve (and fan out in the same transaction), reject, edit, review, withdraw."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from alerts.clock import Clock
from alerts.content.sms import SmsRules, check
from alerts.outbox import slices
from alerts.settings.channels import CampaignsSection
from alerts.store import deliveries as delivery_store
from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.store.tables import messages, raw_inputs
from alerts.store.users import User
from alerts.workflow import audit
from alerts.workflow.policy import Policy, Refused
from alerts.workflow.states import FOLLOW_UP_FROM, TransitionError

SYSTEM = "system"


class NotFound(Exception):
    pass


async def pushed_by(conn: Any, alert_id: int | None) -> set[str]:
    """The users who pushed the alert behind a draft (raw inputs with source "push:<user>")."""
    if alert_id is None:
        return set()
    rows = await conn.execute(select(raw_inputs.c.source).where(raw_inputs.c.alert_id == alert_id)
                              .where(raw_inputs.c.source.like("push:%")))
    return {r.source.split(":", 1)[1] for r in rows}


@dataclass
class Decision:
    draft_id: int
    state: str
    deliveries: int = 0
    note: str = ""


class Actions:
    def __init__(self, db: Database, policy: Policy, clock: Clock, *, test_phones: list[str], sms_rules: SmsRules,
                 campaigns: CampaignsSection | None = None, sms_guard: Any = None, warning_budget: int = 0):
        self.db = db
        # Domestic SMS providers: texts must be registered templates (alerts/channels/sms/approval.py).
        self.sms_guard = sms_guard
        self.policy = policy
        self.clock = clock
        self.test_phones = test_phones
        self.sms_rules = sms_rules
        # Quiet hours and caps for campaign deliveries (channels.yaml `campaigns`), applied by the fan-out.
        self.campaigns = campaigns or CampaignsSection()
        # Warning SMS per resident per hour before lower levels wait (chains.yaml combine).
        self.warning_budget = warning_budget
        # Residents flagged for calls are called from this level; None while there is no voice channel.
        self.voice_min_level: str | None = None

    async def _load(self, conn: Any, draft_id: int) -> draft_store.DraftRecord:
        # Lock the draft row (PostgreSQL) so two approvers deciding at once are counted in turn.
        record = await draft_store.get(conn, draft_id, for_update=True)
        if record is None:
            raise NotFound(f"no draft {draft_id}")
        return record

    async def _release(self, conn: Any, record: draft_store.DraftRecord, *, actor: str, origin: str, now: datetime,
                       expedited: bool, action: str) -> Decision:
        """pending → approved → dispatching, with the deliveries written in the same transaction."""
        draft_id = record.id
        if not await draft_store.transition(conn, draft_id, "pending", "approved", at=now, by=actor, expedited=expedited):
            raise TransitionError("changed", "approved")
        fresh = await self._load(conn, draft_id)
        # Large fan-outs commit their first slice here and the rest right after (alerts/outbox/slices.py).
        result = await slices.fan_out(conn, fresh.row, fresh.messages, now=now, test_phones=self.test_phones,
                                      campaigns=self.campaigns, warning_budget=self.warning_budget,
                                      voice_min_level=self.voice_min_level)
        await draft_store.transition(conn, draft_id, "approved", "dispatching", at=now)
        await audit.append(conn, at=now, actor=actor, action=action, target=f"draft:{draft_id}", origin=origin,
                           before={"state": "pending"},
                           after={"state": "dispatching", "deliveries": result.deliveries, "expedited": expedited,
                                  "exercise": bool(fresh.row.exercise)})
        return Decision(draft_id, "dispatching", deliveries=result.deliveries)

    def _check_sms(self, record: draft_store.DraftRecord) -> None:
        """The SMS rules again at send time: alert data (a long issuer name, say) can push a text over."""
        for m in record.messages:
            if m.channel == "sms":
                problems = check(m.text, self.sms_rules)
                if problems:
                    raise Refused(f"the {m.audience} SMS (message {m.id}) cannot be sent as it is: "
                                  + "; ".join(problems) + " — edit it, then approve", 409)

    async def _check_registered(self, conn: Any, record: draft_store.DraftRecord) -> None:
        """Through a domestic provider an SMS goes out as its registered template, or not at all."""
        if self.sms_guard is not None:
            for message_id, params in self.sms_guard.check(record.messages).items():
                await conn.execute(update(messages).where(messages.c.id == message_id).values(params=params))

    async def approve(self, user: User, draft_id: int, *, origin: str) -> Decision:
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            self.policy.require(user, "approve")
            if record.state != "pending":
                raise TransitionError(record.state, "approved")
            verdict = self.policy.check_approve(user, record.row, record.messages, record.approvals,
                                                pushed_by=await pushed_by(conn, record.row.alert_id))
            self._check_sms(record)
            await self._check_registered(conn, record)
            now = self.clock.now()
            await draft_store.add_approval(conn, draft_id, user_name=user.name, role="approver", decision="approve", at=now)
            approvals = 1 + sum(1 for a in record.approvals if a.decision == "approve")
            await audit.append(conn, at=now, actor=user.name, action="draft.approval", target=f"draft:{draft_id}",
                               origin=origin, before={"state": "pending"},
                               after={"approvals": approvals, "required": verdict.approvals_required})
            if approvals < verdict.approvals_required:
                return Decision(draft_id, "pending", note=f"{approvals} of {verdict.approvals_required} approvals")
            return await self._release(conn, record, actor=user.name, origin=origin, now=now,
                                       expedited=verdict.expedited, action="draft.approved")

    async def auto_release(self, draft_id: int, *, after_minutes: float) -> Decision | None:
        """The optional auto-release of a red warning nobody decided on; only unchanged reviewed texts."""
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            verdict = self.policy.verdict(record.row, record.messages)
            sms_ok = all(not check(m.text, self.sms_rules) for m in record.messages if m.channel == "sms")
            if (record.state != "pending" or record.row.level != "red" or not verdict.expedited or verdict.needs_expert
                    or not sms_ok):
                return None
            try:
                await self._check_registered(conn, record)
            except Refused:
                return None  # a person must look at it: an unregistered text is never released unseen
            now = self.clock.now()
            return await self._release(conn, record, actor=SYSTEM, origin=f"auto-release after {after_minutes:g} min",
                                       now=now, expedited=True, action="draft.auto_released")

    async def reject(self, user: User, draft_id: int, reason: str, *, origin: str) -> Decision:
        if not reason.strip():
            raise Refused("a rejection needs a reason (it is kept on the record)", 400)
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            self.policy.require(user, "reject")
            now = self.clock.now()
            if not await draft_store.transition(conn, draft_id, record.state, "rejected", at=now, by=user.name,
                                                reason=reason.strip()):
                raise TransitionError(record.state, "rejected")
            await draft_store.add_approval(conn, draft_id, user_name=user.name, role="approver", decision="reject",
                                           at=now, note=reason.strip())
            await audit.append(conn, at=now, actor=user.name, action="draft.rejected", target=f"draft:{draft_id}",
                               origin=origin, before={"state": record.state}, after={"state": "rejected", "reason": reason})
            from alerts import combine

            # Rejecting a combined offer rejects the combination, not the warnings: each comes back.
            await combine.reoffer(conn, draft_id, now=now, by=user.name)
            return Decision(draft_id, "rejected")

    async def edit(self, user: User, draft_id: int, message_id: int, text: str, *, origin: str) -> Decision:
        """Change one message's text; the draft goes back to review (earlier approvals no longer count)."""
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            self.policy.require(user, "edit")
            if record.state != "pending":
                raise TransitionError(record.state, "pending (edited)")
            msg = next((m for m in record.messages if m.id == message_id), None)
            if msg is None:
                raise NotFound(f"draft {draft_id} has no message {message_id}")
            text = text.replace("\r\n", "\n").strip()
            if not text:
                raise Refused("the new text is empty", 400)
            if text == msg.text:
                raise Refused("the new text is the same as the current one: nothing to change", 400)
            from alerts.textclean import problems as invisible

            hidden = invisible(text, field=f"the text of message {message_id}")
            if hidden:  # invisible characters change what a phone shows and break the public feeds
                raise Refused("; ".join(hidden), 400)
            if msg.channel == "sms":
                problems = check(text, self.sms_rules)
                if problems:
                    raise Refused("the SMS text is not acceptable: " + "; ".join(problems), 400)
            now = self.clock.now()
            await draft_store.edit_message(conn, message_id, text, by=user.name, at=now)
            await audit.append(conn, at=now, actor=user.name, action="message.edited", target=f"draft:{draft_id}",
                               origin=origin, before={"message": message_id, "text": msg.text},
                               after={"message": message_id, "text": text})
            return Decision(draft_id, "pending", note="edited: needs an expert's review and an approver")

    async def review(self, user: User, draft_id: int, *, origin: str) -> Decision:
        """An expert confirms the edited (or unreviewed) texts of a draft are sound."""
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            if record.state != "pending":
                raise TransitionError(record.state, "pending (reviewed)")
            self.policy.check_review(user, record.row, record.messages)
            now = self.clock.now()
            changed = [m.id for m in record.messages if m.edited or not m.template_reviewed]
            await conn.execute(update(messages).where(messages.c.id.in_(changed)).values(expert_reviewed_by=user.name))
            await draft_store.add_approval(conn, draft_id, user_name=user.name, role="expert", decision="review", at=now)
            await audit.append(conn, at=now, actor=user.name, action="draft.reviewed", target=f"draft:{draft_id}",
                               origin=origin, after={"messages": changed})
            return Decision(draft_id, "pending", note="reviewed by an expert")

    async def correct(self, user: User, draft_id: int, note: str, *, origin: str) -> Decision:
        """Start a correction of a draft that went out: a new pending draft linked to it, in its chain.

        Its texts start as the originals marked 【更正】 for an editor to rewrite; as changed texts they
        need an expert's review and the normal number of approvers, and the author cannot approve.
        """
        if not note.strip():
            raise Refused("a correction needs a reason (what was wrong), kept on the record", 400)
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            self.policy.require(user, "compose")
            if record.state not in FOLLOW_UP_FROM:
                raise TransitionError(record.state, "corrected (only what went out can be corrected)")
            d = record.row
            now = self.clock.now()
            items = [draft_store.NewMessage(route=m.route, template_id=m.template_id, template_hash=m.template_hash,
                                            template_reviewed=False, audience=m.audience, channel=m.channel,
                                            language=m.language, areas=list(m.areas or []),
                                            text=m.text if m.text.startswith("【更正】") else "【更正】" + m.text)
                     for m in record.messages]
            new_id = await draft_store.create(conn, alert_id=d.alert_id, kind="correction", hazard=d.hazard,
                                              level=d.level, group_key=d.group_key, exercise=d.exercise,
                                              created_by=user.name, at=now, expires_at=d.expires_at, items=items,
                                              parent_draft_id=d.id)
            await audit.append(conn, at=now, actor=user.name, action="draft.correction_started",
                               target=f"draft:{new_id}", origin=origin,
                               after={"corrects": d.id, "reason": note.strip(), "messages": len(items)})
            return Decision(new_id, "pending", note=f"correction of draft {d.id}")

    async def withdraw(self, user: User, draft_id: int, reason: str, *, origin: str) -> Decision:
        """Operator stop: what is still queued is not sent."""
        if not reason.strip():
            raise Refused("a withdrawal needs a reason (it is kept on the record)", 400)
        async with self.db.write() as conn:
            record = await self._load(conn, draft_id)
            self.policy.require(user, "approve")
            now = self.clock.now()
            if not await draft_store.transition(conn, draft_id, record.state, "withdrawn", at=now, by=user.name,
                                                reason=reason.strip()):
                raise TransitionError(record.state, "withdrawn")
            stopped = await delivery_store.withdraw_for_draft(conn, draft_id, now=now, reason=reason)
            await audit.append(conn, at=now, actor=user.name, action="draft.withdrawn", target=f"draft:{draft_id}",
                               origin=origin, before={"state": record.state},
                               after={"state": "withdrawn", "stopped_deliveries": stopped, "reason": reason})
            return Decision(draft_id, "withdrawn", deliveries=stopped)
