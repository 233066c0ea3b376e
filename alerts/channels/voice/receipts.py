"""A call's result: answered calls are delivered, unanswered ones placed again (voice.retries, bounded),
and a pressed 1 (or, where configured, an answered Aliyun call) acknowledges 叫应 for that number."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.events.acks import acknowledge_phone
from alerts.settings.channels import VoiceSection
from alerts.store.tables import deliveries

log = logging.getLogger("alerts.channels.voice")
# Aliyun VoiceReport status_code of a call the callee answered and heard (用户听完).
ALIYUN_ANSWERED = {"200000"}
TWILIO_FINAL = {"completed", "busy", "no-answer", "failed", "canceled"}


@dataclass(frozen=True)
class CallReport:
    """One call's outcome as a provider reports it."""

    provider_id: str  # as stored on the delivery: aliyun-voice:<CallId>, or Twilio's CallSid
    delivery_id: int | None  # from our own reference (Aliyun out_id d<id>, Twilio ?d=<id>); None: 叫应 call
    phone: str | None  # the callee, when the provider says (for 叫应 calls)
    answered: bool
    final: bool
    keys: str = ""  # DTMF pressed
    detail: str = ""  # the provider's status, for the delivery's error


@dataclass
class Applied:
    found: bool
    state: str | None = None
    acknowledged: int = 0


def aliyun_report(entry: dict[str, object]) -> CallReport:
    """A VoiceReport entry (pushed as a JSON array) as a CallReport."""
    out_id = str(entry.get("out_id") or "")
    code = str(entry.get("status_code") or "")
    duration = str(entry.get("duration") or "0").rstrip("秒").strip()
    answered = code in ALIYUN_ANSWERED or bool(entry.get("start_time")) or (duration.isdigit() and int(duration) > 0)
    callee = str(entry.get("callee") or "")
    return CallReport(provider_id=f"aliyun-voice:{entry.get('call_id') or ''}",
                      delivery_id=int(out_id[1:]) if out_id.startswith("d") and out_id[1:].isdigit() else None,
                      phone=callee or None, answered=answered, final=True, keys=str(entry.get("dtmf") or ""),
                      detail=f"{code} {entry.get('status_msg') or ''}".strip())


def twilio_status(form: dict[str, str], delivery_id: int | None) -> CallReport:
    status = form.get("CallStatus", "").lower()
    return CallReport(provider_id=form.get("CallSid", ""), delivery_id=delivery_id, phone=form.get("To") or None,
                      answered=status == "completed", final=status in TWILIO_FINAL, detail=status)


async def apply_call(conn: AsyncConnection, report: CallReport, *, now: datetime, policy: VoiceSection) -> Applied:
    """Record one call's result on its delivery (if it has one) and acknowledge on a pressed 1."""
    row = None
    q = select(deliveries.c.id, deliveries.c.state, deliveries.c.provider_id, deliveries.c.address,
               deliveries.c.attempts).where(deliveries.c.channel == "voice")
    if report.delivery_id:
        row = (await conn.execute(q.where(deliveries.c.id == report.delivery_id))).first()
        if row is not None and row.provider_id and report.provider_id and row.provider_id != report.provider_id:
            row = None  # a receipt of an earlier call of this delivery, or not ours: never applied
    elif report.provider_id:
        row = (await conn.execute(q.where(deliveries.c.provider_id == report.provider_id))).first()
    applied = Applied(found=row is not None, state=row.state if row is not None else None)
    phone = report.phone
    if row is not None and not str(row.address).startswith("contact:"):
        phone = row.address
    if row is not None and row.state == "sent" and report.final:
        applied.state = await _settle(conn, row, report, now=now, policy=policy)
    confirmed = "1" in report.keys or (report.answered and policy.answered_acknowledges)
    if confirmed and phone:
        applied.acknowledged = len(await acknowledge_phone(conn, phone=phone, word="1", via="voice", at=now))
    return applied


async def _settle(conn: AsyncConnection, row: object, report: CallReport, *, now: datetime,
                  policy: VoiceSection) -> str:
    ident = row.id  # type: ignore[attr-defined]
    attempts = int(row.attempts)  # type: ignore[attr-defined]
    sent = and_(deliveries.c.id == ident, deliveries.c.state == "sent")
    if report.answered:
        await conn.execute(update(deliveries).where(sent).values(
            state="delivered", provider_status="answered", updated_at=now))
        return "delivered"
    if attempts <= policy.retries:
        # Nobody answered: the same call again after the interval (never two at once to one person).
        await conn.execute(update(deliveries).where(sent).values(
            state="queued", provider_id=None, provider_status=None, lease_owner=None, lease_until=None,
            next_attempt_at=now + timedelta(minutes=policy.retry_minutes), error_code="no_answer",
            error=f"未接听（{report.detail}），{policy.retry_minutes:g} 分钟后再拨（第 {attempts} 次）",
            updated_at=now))
        return "queued"
    await conn.execute(update(deliveries).where(sent).values(
        state="failed", provider_status="no_answer", error_code="no_answer",
        error=f"呼叫 {attempts} 次均未接听（{report.detail}）", updated_at=now))
    return "failed"
