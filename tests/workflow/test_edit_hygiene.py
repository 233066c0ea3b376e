"""An edit carrying an invisible or control character is refused with where it is and what to do."""

from __future__ import annotations

import pytest

from alerts.store import drafts as draft_store
from alerts.workflow.policy import Refused
from tests.workflow.support import World


@pytest.mark.parametrize("bad", ["\x0b", "\u202e", "\u200b"])
async def test_an_edit_with_a_control_bidi_or_zero_width_character_is_refused(world: World, bad: str) -> None:
    draft_id = await world.ingest(level="orange")
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    sms = next(m for m in record.messages if m.channel == "sms")
    with pytest.raises(Refused) as info:
        await world.service.actions.edit(world.users["li.editor"], draft_id, sms.id, "请远离河道" + bad + "和低洼地。",
                                         origin="test")
    assert info.value.status == 400
    assert "character 6" in str(info.value) and f"U+{ord(bad):04X}" in str(info.value) and "delete it" in str(info.value)
    async with world.service.db.read() as conn:
        after = await draft_store.get(conn, draft_id)
    assert after is not None and next(m for m in after.messages if m.id == sms.id).text == sms.text
