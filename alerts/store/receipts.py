"""Provider receipts: status callbacks move a delivery forward (never back), and a carrier failure that
sending again can cure queues the delivery again (a queue overflow or suspension also pauses the channel)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import deliveries

# Twilio's message statuses in the order a message moves through them; a callback may only
# move a delivery forward (callbacks arrive duplicated and out of order).
PROVIDER_RANK = {"accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4, "delivered": 5,
                 "undelivered": 5, "failed": 5, "canceled": 5, "read": 6}


@dataclass
class Receipt:
    found: bool
    changed: bool
    delivery_id: int | None = None
    state: str | None = None
    note: str = ""


async def apply_status(conn: AsyncConnection, *, delivery_id: int | None, provider_id: str, status: str,
                       error_code: str | None, now: datetime, provider: str = "twilio") -> Receipt:
    """Apply a provider status callback; a status never moves a delivery backwards. A Twilio failure that
    is not the message's own (queue overflow, account suspended) queues it again without spending its
    attempt and pauses the channel; a temporary one (unreachable handset) queues it for a later retry."""
    status = status.strip().lower()
    rank = PROVIDER_RANK.get(status)
    if rank is None:
        return Receipt(False, False, note=f"unknown status {status!r}")
    q = select(deliveries.c.id, deliveries.c.state, deliveries.c.provider_id, deliveries.c.provider_status,
               deliveries.c.channel, deliveries.c.attempts)
    if delivery_id is not None:
        row = (await conn.execute(q.where(deliveries.c.id == delivery_id))).first()
        if row is not None and row.provider_id and provider_id and row.provider_id != provider_id:
            return Receipt(False, False, note="the message id does not match this delivery")
    else:
        row = (await conn.execute(q.where(deliveries.c.provider_id == provider_id))).first()
    if row is None:
        return Receipt(False, False, note="no such delivery")
    current = PROVIDER_RANK.get(row.provider_status or "", 0)
    if rank <= current or row.state in ("queued", "withdrawn", "expired", "suppressed"):
        return Receipt(True, False, row.id, row.state, note="not newer than what is recorded")
    values: dict[str, Any] = {"provider_status": status, "updated_at": now}
    if provider_id and not row.provider_id:
        values["provider_id"] = provider_id
    if row.state != "in_flight" and status in ("undelivered", "failed") and provider == "twilio":
        again = await _send_again(conn, row, status, error_code, now)
        if again is not None:
            return again
    if row.state != "in_flight":  # an in-flight row takes the status when the worker records it
        if status == "delivered":
            values["state"] = "delivered"
        elif status in ("undelivered", "failed"):
            values.update(state="failed", error_code=error_code or status,
                          error=f"the carrier reported {status}" + (f" (error {error_code})" if error_code else ""))
    elif status in ("undelivered", "failed"):
        values["error_code"] = error_code or status
    cas = deliveries.c.provider_status.is_(None) if row.provider_status is None else (
        deliveries.c.provider_status == row.provider_status)
    result = await conn.execute(update(deliveries).where(and_(deliveries.c.id == row.id, cas)).values(**values))
    changed = bool(result.rowcount)
    return Receipt(True, changed, row.id, values.get("state", row.state))


async def _send_again(conn: AsyncConnection, row: Any, status: str, error_code: str | None,
                      now: datetime) -> Receipt | None:
    """A carrier failure that sending again can cure: queue the delivery again (None: it cannot)."""
    from alerts.channels import twilio_codes
    from alerts.clock import local
    from alerts.store import budgets, problems

    meaning = twilio_codes.meaning(twilio_codes.code_of(error_code))
    if meaning is None or meaning.action == "permanent":
        return None
    values: dict[str, Any] = {
        "state": "queued", "provider_id": None, "provider_status": None, "error_code": error_code,
        "error": f"the carrier reported {status} (error {error_code}: {meaning.reason}); sent again", "updated_at": now,
        "lease_owner": None, "lease_until": None}
    if meaning.action == "retry":
        values["next_attempt_at"] = now + timedelta(seconds=min(600.0, 30.0 * 2 ** max(0, int(row.attempts) - 1)))
    else:  # the account's fault, not this message's: it keeps its attempt; the channel rests
        pause = await budgets.pause(conn, row.channel, now=now, after=meaning.pause_seconds or 60.0, base=1, cap=300,
                                    code=str(error_code), reason=f"Twilio {error_code}: {meaning.reason}")
        await problems.report(conn, key=f"channel_paused:{row.channel}", kind="channel_paused",
                              severity=meaning.severity, subject=f"channel:{row.channel}", at=now, what=meaning.problem,
                              why=f"状态回执 {error_code}：{meaning.reason}（暂停至 {local(pause.until)}，消息重新排队）",
                              todo=meaning.todo)
        values.update(next_attempt_at=pause.until, attempts=deliveries.c.attempts - 1)
    done = await conn.execute(update(deliveries).where(and_(
        deliveries.c.id == row.id, deliveries.c.state.in_(("sent", "delivered", "failed")))).values(**values))
    return Receipt(True, bool(done.rowcount), row.id, "queued", note=f"queued again after {error_code}")
