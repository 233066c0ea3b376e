"""The SMS rules are checked again when a draft is approved; alert data can no longer push a text over."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from alerts.store import drafts as draft_store
from alerts.store.tables import messages
from alerts.workflow.policy import Refused
from tests.workflow.support import World, sample_alert

LONG_ISSUER = "国家突发事件预警信息发布中心联合高平市气象台与高平市应急管理局及有关部门" * 2


async def test_a_long_sender_name_never_reaches_the_sms_so_the_draft_stays_approvable(world: World) -> None:
    # Before issue 12 the alert's senderName was the SMS's issuer and could push it over two segments.
    data = sample_alert(level="orange").replace("<senderName>高平市气象台</senderName>".encode(),
                                                f"<senderName>{LONG_ISSUER}</senderName>".encode())
    intake = await world.service.receive(data, source="test")
    [draft_id] = intake.drafts.created
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    sms = [m.text for m in record.messages if m.channel == "sms"]
    assert sms and all("高平市气象台" in t and "国家突发事件" not in t for t in sms)
    decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert decision.state == "dispatching"


async def test_a_text_too_long_at_approval_cannot_be_approved_until_edited(world: World) -> None:
    draft_id = await world.ingest(level="orange")
    async with world.service.db.write() as conn:  # e.g. a draft made before the library's limits changed
        await conn.execute(update(messages).where(messages.c.draft_id == draft_id, messages.c.channel == "sms")
                           .values(text="长" * 200))
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert info.value.status == 409
    assert "residents SMS" in str(info.value) and "edit it" in str(info.value)
