"""Builders for outbox tests: residents, an approved draft fanned out like an approval does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.outbox import fanout
from alerts.settings.channels import CampaignsSection
from alerts.store import drafts as draft_store
from alerts.store.tables import residents

TOWNSHIPS = ["140581001", "140581002", "140581003", "140581101", "140581102", "140581103", "140581104",
             "140581105", "140581106", "140581107", "140581108", "140581109", "140581201", "140581202",
             "140581203"]


def phone(i: int) -> str:
    return f"+86139{i:08d}"


async def add_residents(conn: Any, count: int, *, at: datetime, start: int = 0, areas: list[str] | None = None,
                        status: str = "active", groups: str = "") -> None:
    areas = areas or TOWNSHIPS
    rows = [dict(phone=phone(i), area=areas[i % len(areas)], village=None, groups=groups, language="zh-CN",
                 consent_at=at, consent_how="test", status=status, created_at=at, updated_at=at, opted_out_how="")
            for i in range(start, start + count)]
    for k in range(0, len(rows), 5000):
        await conn.execute(residents.insert(), rows[k:k + 5000])


async def approved_draft(conn: Any, *, at: datetime, kind: str = "warning", level: str | None = "red",
                         group_key: str = "chain:1", areas: list[str] | None = None, text: str = "【高平应急科普】测试",
                         expires_at: datetime | None = None, exercise: bool = False,
                         campaigns: CampaignsSection | None = None, test_phones: list[str] | None = None,
                         reach: str = "all", stage: str | None = None,
                         warning_budget: int = 0) -> tuple[int, fanout.FanoutResult]:
    """A draft with one SMS to residents, approved and fanned out in one transaction (like approve)."""
    items = [draft_store.NewMessage(route="test", template_id="t", template_hash="h", template_reviewed=True,
                                    audience="residents", channel="sms", language="zh-CN",
                                    areas=areas or TOWNSHIPS, text=text, reach=reach)]
    draft_id = await draft_store.create(conn, alert_id=None, kind=kind, hazard="rainstorm", level=level,
                                        group_key=group_key, exercise=exercise, created_by="test", at=at,
                                        expires_at=expires_at, items=items, stage=stage)
    assert await draft_store.transition(conn, draft_id, "pending", "approved", at=at, by="approver")
    record = await draft_store.get(conn, draft_id)
    assert record is not None
    result = await fanout.fan_out(conn, record.row, record.messages, now=at, test_phones=test_phones or [],
                                  campaigns=campaigns, warning_budget=warning_budget)
    assert await draft_store.transition(conn, draft_id, "approved", "dispatching", at=at)
    return draft_id, result


async def queued_on(conn: Any, *, at: datetime, channel: str, addresses: list[str], messages: int = 1,
                    kind: str = "warning") -> int:
    """A dispatching draft with `messages` messages, each queued for every address on `channel` (a channel
    the fan-out does not know, for channel tests); returns the draft id."""
    from alerts.store.tables import deliveries

    items = [draft_store.NewMessage(route="t", template_id=f"t{k}", template_hash="h", template_reviewed=True,
                                    audience="residents", channel="sms", language="zh-CN", areas=TOWNSHIPS,
                                    text=f"测试消息 {k}") for k in range(messages)]
    draft_id = await draft_store.create(conn, alert_id=None, kind=kind, hazard="rainstorm", level="red",
                                        group_key=f"chain:{channel}", exercise=False, created_by="test", at=at,
                                        expires_at=None, items=items)
    assert await draft_store.transition(conn, draft_id, "pending", "approved", at=at, by="approver")
    record = await draft_store.get(conn, draft_id)
    assert record is not None
    await conn.execute(deliveries.insert(), [
        dict(message_id=m.id, recipient_key=f"x:{address}", channel=channel, address=address, priority=55,
             state="queued", attempts=0, in_doubt=False, next_attempt_at=at, expires_at=None, created_at=at,
             updated_at=at, error="") for m in record.messages for address in addresses])
    assert await draft_store.transition(conn, draft_id, "approved", "dispatching", at=at)
    return draft_id
