"""The SMS rules are checked again when a draft is approved: alert data can push a text over the limit."""

from __future__ import annotations

import pytest

from alerts.workflow.policy import Refused
from tests.workflow.support import World, sample_alert

LONG_ISSUER = "国家突发事件预警信息发布中心联合高平市气象台与高平市应急管理局及有关部门" * 2


async def test_a_text_made_too_long_by_the_alert_cannot_be_approved_until_edited(world: World) -> None:
    data = sample_alert(level="orange").replace("<senderName>高平市气象台</senderName>".encode(),
                                                f"<senderName>{LONG_ISSUER}</senderName>".encode())
    intake = await world.service.receive(data, source="test")
    [draft_id] = intake.drafts.created
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert info.value.status == 409
    assert "residents SMS" in str(info.value) and "edit it" in str(info.value)
