"""Delivery reports and replies from domestic providers, pushed or pulled, applied to the ledger.

A report moves its delivery to delivered or failed (with the carrier's code) and is counted for the
failover's undelivered rate; a reply goes to the one reply handler (退订/TD opt out, and whatever
else alerts/replies.py understands), whichever provider carried it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.channels.sms.base import aliyun_id, e164, tencent_id
from alerts.channels.sms.health import record_receipt
from alerts.recipients import mask_phone
from alerts.replies import handle_reply
from alerts.store import deliveries as delivery_store

log = logging.getLogger("alerts.channels.sms.receipts")


@dataclass
class Applied:
    received: int = 0
    matched: int = 0
    changed: int = 0
    replies: int = 0


@dataclass(frozen=True)
class Report:
    provider: str
    provider_id: str
    delivered: bool
    code: str


def aliyun_reports(entries: list[dict[str, Any]]) -> list[Report]:
    """SmsReport entries: phone_number, biz_id, success, err_code."""
    out = []
    for e in entries:
        phone, biz = str(e.get("phone_number") or ""), str(e.get("biz_id") or "")
        if not phone or not biz:
            continue
        ok = e.get("success") in (True, "true", "True", 1)
        out.append(Report("aliyun", aliyun_id(biz, phone), ok, str(e.get("err_code") or ("DELIVERED" if ok else ""))))
    return out


def tencent_reports(entries: list[dict[str, Any]]) -> list[Report]:
    """Status callbacks (sid, report_status, errmsg) and pulled statuses (SerialNo, ReportStatus)."""
    out = []
    for e in entries:
        serial = str(e.get("sid") or e.get("SerialNo") or "")
        if not serial:
            continue
        status = str(e.get("report_status") or e.get("ReportStatus") or "")
        code = str(e.get("errmsg") or e.get("Description") or status)
        out.append(Report("tencent", tencent_id(serial), status == "SUCCESS", code))
    return out


async def apply_reports(conn: AsyncConnection, reports: list[Report], *, now: datetime) -> Applied:
    applied = Applied(received=len(reports))
    for r in reports:
        receipt = await delivery_store.apply_status(
            conn, delivery_id=None, provider_id=r.provider_id, status="delivered" if r.delivered else "undelivered",
            error_code=None if r.delivered else (r.code or "undelivered")[:40], now=now)
        applied.matched += int(receipt.found)
        applied.changed += int(receipt.changed)
        await record_receipt(conn, provider=r.provider, delivered=r.delivered, code=r.code, at=now)
    return applied


def aliyun_replies(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """SmsUp entries: phone_number, content."""
    return [(e164(str(e.get("phone_number") or "")), str(e.get("content") or "")) for e in entries
            if e.get("phone_number")]


def tencent_replies(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Reply callbacks (mobile, nationcode, text) and pulled replies (PhoneNumber, ReplyContent)."""
    out = []
    for e in entries:
        if e.get("PhoneNumber"):
            out.append((e164(str(e["PhoneNumber"])), str(e.get("ReplyContent") or "")))
        elif e.get("mobile"):
            out.append((e164(f"+{e.get('nationcode') or '86'}{e['mobile']}"), str(e.get("text") or "")))
    return out


async def apply_replies(conn: AsyncConnection, replies: list[tuple[str, str]], *, provider: str, now: datetime,
                        service_name: str) -> Applied:
    applied = Applied(received=len(replies))
    for phone, body in replies:
        reply = await handle_reply(conn, phone=phone, body=body, provider=provider, at=now, service_name=service_name)
        applied.replies += 1
        log.info("%s reply from %s: %s", provider, mask_phone(phone), reply.kind)
    return applied
