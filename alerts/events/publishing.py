"""Policy explanations (政策解读) and rumour responses (舆情引导): reviewed skeletons filled by a
department, then the ordinary draft pipeline: expert review → (宣传部 sign-off) → approval → fan-out.

A filled skeleton becomes a pending draft of kind `policy` or `rumour_response` whose messages
count as unreviewed text (the filled fields need the expert), created by the department's user
(so four eyes keep that user from approving it). Everything after that is the existing
workflow; the only addition is the sign-off a rumour response needs before approval.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from alerts.content.sms import check as check_sms
from alerts.events import store
from alerts.events.registered import sms_notice, template_id
from alerts.events.skeletons import SkeletonError
from alerts.outbox.fanout import ORG_AUDIENCES
from alerts.store import drafts as draft_store
from alerts.store.tables import event_drafts, rumours
from alerts.store.users import User
from alerts.textclean import clean
from alerts.textclean import problems as text_problems
from alerts.workflow import audit
from alerts.workflow.actions import Decision, NotFound
from alerts.workflow.policy import SIGN_OFF_KINDS, Refused
from alerts.workflow.states import TransitionError

KIND_ZH = {"policy": "政策解读", "rumour_response": "辟谣回应"}
PUBLIC_AUDIENCES = ("residents", "elderly")
CHANNELS = ("sms", "notice", "im")


@dataclass(frozen=True)
class Target:
    audience: str
    channel: str


def allowed_targets() -> list[str]:
    return [f"{a}:{c}" for a in (*PUBLIC_AUDIENCES, *ORG_AUDIENCES) for c in CHANNELS
            if not (a in PUBLIC_AUDIENCES and c == "im")]


def parse_targets(values: list[str]) -> list[Target]:
    """'residents:sms', 'communities:im', ... — each once, each one the fan-out can deliver."""
    allowed = allowed_targets()
    out: list[Target] = []
    for v in values:
        if v not in allowed:
            raise Refused(f"target {v!r} is not deliverable: choose from {', '.join(allowed)}", 422)
        t = Target(*v.split(":"))
        if t not in out:
            out.append(t)
    if not out:
        raise Refused("choose at least one audience and channel, e.g. residents:sms or communities:im", 422)
    return out


class Publishing:
    def __init__(self, desk: Any):
        self.desk = desk
        self.service = desk.service

    def _departments_of(self, user: User) -> list[str]:
        return [k for k, d in self.desk.departments.departments.items() if user.name in d.members]

    async def draft_policy(self, user: User, event_id: int, skeleton: str, fields: dict[str, str],
                           targets: list[str], *, department: str | None = None, origin: str) -> Decision:
        """A department's policy explanation for the event, waiting for the expert and the approvers."""
        self.service.policy.require(user, "draft_policy")
        sk = self._skeleton("policy", skeleton)
        mine = self._departments_of(user)
        allowed = [d for d in mine if not sk.departments or d in sk.departments]
        if department is not None:
            allowed = [d for d in allowed if d == department]
        if not allowed:
            who = "、".join(self.desk.departments.departments[d].short for d in sk.departments
                           if d in self.desk.departments.departments) or "a member department"
            raise Refused(f"'{user.name}' does not act for {who} (departments.yaml members), which drafts the "
                          f"{sk.title}", 403)
        return await self._create(user, event_id, "policy", sk, fields, parse_targets(targets), department=allowed[0],
                                  origin=origin)

    async def record_rumour(self, user: User, event_id: int, *, claim: str, seen_where: str, seen_at: datetime,
                            origin: str) -> int:
        self.service.policy.require(user, "record_rumour")
        claim_text = _plain("claim (what is being said)", claim, 500)
        where = _plain("seen_where (where it was seen)", seen_where, 200)
        now = self.service.clock.now()
        if seen_at.tzinfo is None:
            raise Refused("seen_at needs a time zone, e.g. 2026-07-12T06:10:00+08:00", 422)
        if seen_at > now:
            raise Refused("seen_at is in the future: give the time the rumour was seen", 422)
        async with self.service.db.write() as conn:
            await self._open_event(conn, event_id)
            result = await conn.execute(rumours.insert().values(
                event_id=event_id, claim=claim_text, seen_where=where, seen_at=seen_at, recorded_by=user.name,
                recorded_at=now, state="recorded").returning(rumours.c.id))
            rumour_id = int(result.scalar_one())
            await store.log(conn, event_id, at=now, actor=user.name, kind="rumour",
                            text=f"{user.name} 登记网传说法（{where}）：{claim_text}", ref=f"rumour:{rumour_id}")
            await audit.append(conn, at=now, actor=user.name, action="event.rumour_recorded",
                               target=f"event:{event_id}", origin=origin,
                               after={"rumour": rumour_id, "seen_where": where, "seen_at": seen_at.isoformat()})
        return rumour_id

    async def respond(self, user: User, event_id: int, rumour_id: int, fields: dict[str, str], targets: list[str],
                      *, origin: str) -> Decision:
        """A rumour response from the reviewed skeleton, tied to the rumour and its event."""
        self.service.policy.require(user, "record_rumour")
        sk = self._skeleton("rumour", "response")
        async with self.service.db.read() as conn:
            row = (await conn.execute(select(rumours).where(rumours.c.id == rumour_id))).first()
        if row is None or int(row.event_id) != event_id:
            raise NotFound(f"event {event_id} has no rumour {rumour_id}")
        return await self._create(user, event_id, "rumour_response", sk, fields, parse_targets(targets),
                                  department=None, origin=origin, rumour_id=rumour_id)

    async def sign_off(self, user: User, draft_id: int, *, origin: str) -> Decision:
        """宣传部 signs off a reviewed rumour response; only then may the emergency office approve it."""
        async with self.service.db.write() as conn:
            record = await draft_store.get(conn, draft_id, for_update=True)
            if record is None:
                raise NotFound(f"no draft {draft_id}")
            self.service.policy.require(user, "sign_off_rumour")
            d = record.row
            if d.kind not in SIGN_OFF_KINDS:
                raise Refused(f"draft {draft_id} is a {d.kind} draft: only rumour responses are signed off", 409)
            if d.state != "pending":
                raise TransitionError(d.state, "pending (signed off)")
            if user.name in (d.created_by, d.last_edited_by):
                raise Refused(f"four eyes: '{user.name}' wrote or last edited draft {draft_id}; another person of "
                              "宣传部 must sign it off")
            if self.service.policy.verdict(d, record.messages).needs_expert:
                raise Refused(f"draft {draft_id} needs the expert's review first (draft → review → sign-off → "
                              "approval)", 409)
            if any(a.decision == "sign_off" for a in record.approvals):
                raise Refused(f"draft {draft_id} is already signed off", 409)
            now = self.service.clock.now()
            await draft_store.add_approval(conn, draft_id, user_name=user.name, role="publicity", decision="sign_off",
                                           at=now)
            await audit.append(conn, at=now, actor=user.name, action="draft.signed_off", target=f"draft:{draft_id}",
                               origin=origin)
            link = (await conn.execute(select(event_drafts).where(event_drafts.c.draft_id == draft_id))).first()
            if link is not None:
                await store.log(conn, int(link.event_id), at=now, actor=user.name, kind="rumour",
                                text=f"{user.name}（宣传部）审签辟谣回应 #{draft_id}", ref=f"draft:{draft_id}")
            return Decision(draft_id, "pending", note="signed off by 宣传部; the emergency office approves next")

    # --- shared -------------------------------------------------------------------------------

    def _skeleton(self, kind: str, key: str) -> Any:
        try:
            return self.desk.skeletons.usable(kind, key)
        except SkeletonError as exc:
            raise Refused(str(exc), 422) from None

    async def _open_event(self, conn: Any, event_id: int) -> Any:
        event = await store.get_event(conn, event_id)
        if event is None:
            raise NotFound(f"no event {event_id}")
        if event.state != "open":
            raise Refused(f"event {event_id} is closed: nothing more is drafted in it", 409)
        return event

    async def _create(self, user: User, event_id: int, kind: str, sk: Any, fields: dict[str, str],
                      targets: list[Target], *, department: str | None, origin: str,
                      rumour_id: int | None = None) -> Decision:
        try:
            values = sk.fill(fields)
        except SkeletonError as exc:
            raise Refused(str(exc), 422) from None
        now = self.service.clock.now()
        async with self.service.db.write() as conn:
            event = await self._open_event(conn, event_id)
            context = {**self.desk.texts.context(event), **values,
                       "department": self.desk.departments.departments[department].short if department else ""}
            areas = list(event.areas or [])
            items = []
            for t in targets:
                try:
                    text = sk.render(t.channel, context)
                except SkeletonError as exc:
                    raise Refused(str(exc), 422) from None
                if t.channel == "sms":
                    problems = check_sms(text, self.service.sms_rules)
                    if problems:
                        raise Refused("the SMS would not be sendable: " + "; ".join(problems)
                                      + " — shorten the filled fields", 422)
                # An SMS records its variables: a domestic provider sends the registered skeleton's code with them.
                params = sms_notice(sk, context).params if t.channel == "sms" else None
                items.append(draft_store.NewMessage(
                    route=f"event:{event_id}", template_id=template_id(sk), template_hash=sk.content_hash(),
                    template_reviewed=False, audience=t.audience, channel=t.channel, language="zh-CN", areas=areas,
                    text=text, params=params))
            # Its own group: earlier drafts of the event must not suppress it, nor it them.
            draft_id = await draft_store.create(
                conn, alert_id=None, kind=kind, hazard=None, level=event.level,
                group_key=f"event:{event_id}:{kind}:{secrets.token_hex(6)}", exercise=False, created_by=user.name,
                at=now, expires_at=None, items=items)
            await conn.execute(event_drafts.insert().values(event_id=event_id, draft_id=draft_id, kind=kind,
                                                            skeleton=sk.key, fields=values, department=department,
                                                            rumour_id=rumour_id, created_at=now))
            if rumour_id is not None:
                await conn.execute(update(rumours).where(rumours.c.id == rumour_id).values(state="responding"))
            await store.log(conn, event_id, at=now, actor=user.name, kind=kind,
                            text=f"{user.name} 起草{KIND_ZH[kind]}「{sk.title}」#{draft_id}，待专家审核"
                                 + ("、宣传部审签" if kind in SIGN_OFF_KINDS else "") + "、审批", ref=f"draft:{draft_id}")
            await audit.append(conn, at=now, actor=user.name, action=f"draft.{kind}_created", target=f"draft:{draft_id}",
                               origin=origin, after={"event": event_id, "skeleton": sk.key, "department": department,
                                                     "targets": [f"{t.audience}:{t.channel}" for t in targets]})
        return Decision(draft_id, "pending", note=f"{KIND_ZH[kind]} drafted; an expert reviews it next")


def _plain(name: str, value: str, limit: int) -> str:
    bad = text_problems(value or "")
    if bad:
        raise Refused(f"{name}: {'; '.join(bad)} — retype it as plain text", 422)
    text = " ".join(clean(value or "").split())
    if not text:
        raise Refused(f"{name} is empty", 422)
    if len(text) > limit:
        raise Refused(f"{name} has {len(text)} characters; at most {limit}", 422)
    return text
