"""The pull fallback for receipts: what the pushes missed (hook unreachable, not configured) is fetched.

Tencent queues reports and replies for PullSmsSendStatus / PullSmsReplyStatus (each handed out once).
Aliyun has no queue here: deliveries still only "sent" some minutes after sending are looked up one
by one with QuerySendDetails (a few dozen a minute, oldest first).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, select

from alerts.channels.sms import receipts
from alerts.channels.sms.aliyun import AliyunProvider
from alerts.channels.sms.base import TZ, mainland
from alerts.channels.sms.channel import SmsChannel
from alerts.channels.sms.tencent import TencentProvider
from alerts.store.tables import deliveries

log = logging.getLogger("alerts.channels.sms.pull")
ALIYUN_AFTER = timedelta(minutes=10)  # pushes normally arrive within seconds; look only after this
ALIYUN_PER_RUN = 50


async def pull_once(service: Any) -> receipts.Applied:
    """One round for the service's SMS channel (nothing when it has no domestic provider)."""
    channel = service.channels.get("sms")
    total = receipts.Applied()
    if not isinstance(channel, SmsChannel):
        return total
    for provider in channel.providers:
        try:
            if isinstance(provider, TencentProvider):
                await _tencent(service, provider, total)
            elif isinstance(provider, AliyunProvider):
                await _aliyun(service, provider, total)
        except Exception as exc:  # noqa: BLE001 - the next round tries again; pushes still work
            log.warning("pulling receipts from %s failed: %s", provider.name, exc.__class__.__name__)
    return total


async def _tencent(service: Any, provider: TencentProvider, total: receipts.Applied) -> None:
    for _ in range(20):
        statuses = await provider.client.pull_status(100)
        if statuses:
            async with service.db.write() as conn:
                applied = await receipts.apply_reports(conn, receipts.tencent_reports(statuses),
                                                       now=service.clock.now())
            total.received += applied.received
            total.matched += applied.matched
        if len(statuses) < 100:
            break
    replies = await provider.client.pull_replies(100)
    if replies:
        async with service.db.write() as conn:
            await receipts.apply_replies(conn, receipts.tencent_replies(replies), provider="tencent",
                                         now=service.clock.now(), service_name=service.settings.service.name)
        total.replies += len(replies)


async def _aliyun(service: Any, provider: AliyunProvider, total: receipts.Applied) -> None:
    now = service.clock.now()
    async with service.db.read() as conn:
        rows = (await conn.execute(
            select(deliveries.c.provider_id, deliveries.c.address, deliveries.c.sent_at)
            .where(and_(deliveries.c.state == "sent", deliveries.c.provider_status == "sent",
                        deliveries.c.provider_id.like("aliyun:%"), deliveries.c.sent_at < now - ALIYUN_AFTER,
                        deliveries.c.sent_at > now - timedelta(days=2)))
            .order_by(deliveries.c.sent_at).limit(ALIYUN_PER_RUN))).all()
    reports = []
    for r in rows:
        number = mainland(r.address)
        parts = str(r.provider_id).split(":")
        biz = parts[1] if len(parts) == 3 else ""
        if number is None or not biz or biz == "query":
            continue  # organisations' contacts are not read here (encrypted); their pushes still count
        day = r.sent_at.astimezone(TZ).strftime("%Y%m%d")
        for d in await provider.client.query(number, day, biz_id=biz):
            status = str(d.get("SendStatus"))
            if status in ("2", "3"):
                reports.append({"phone_number": number, "biz_id": biz, "success": status == "3",
                                "err_code": str(d.get("ErrCode") or "")})
    if reports:
        async with service.db.write() as conn:
            applied = await receipts.apply_reports(conn, receipts.aliyun_reports(reports), now=service.clock.now())
        total.received += applied.received
        total.matched += applied.matched
