"""Twilio inbound replay: a captured, correctly signed STOP sent again changes nothing.

Before: the same signed request could be replayed at any time, undoing a resident's later START.
"""

from __future__ import annotations

from sqlalchemy import select

from alerts.store.tables import residents
from tests.outbox.helpers import phone
from tests.web.test_twilio_hooks import Hooks, hooks  # noqa: F401 - the fixture, for this test


async def status_of(h: Hooks, number: str) -> str:
    async with h.service.db.read() as conn:
        return str((await conn.execute(select(residents.c.status).where(residents.c.phone == number))).scalar_one())


async def test_a_replayed_stop_is_answered_but_not_applied(hooks: Hooks) -> None:  # noqa: F811
    stop = {"From": phone(0), "Body": "STOP", "MessageSid": "SM" + "a" * 32}
    assert (await hooks.post("/hooks/twilio/inbound", stop)).status == 200
    assert await status_of(hooks, phone(0)) == "opted_out"
    start = {"From": phone(0), "Body": "START", "MessageSid": "SM" + "b" * 32}
    assert (await hooks.post("/hooks/twilio/inbound", start)).status == 200
    assert await status_of(hooks, phone(0)) == "active"

    replay = await hooks.post("/hooks/twilio/inbound", stop)
    assert replay.status == 200, "Twilio must not retry it"
    assert await status_of(hooks, phone(0)) == "active", "the old STOP does not undo the later START"


async def test_an_inbound_message_without_its_id_is_refused(hooks: Hooks) -> None:  # noqa: F811
    resp = await hooks.post("/hooks/twilio/inbound", {"From": phone(1), "Body": "STOP", "MessageSid": ""})
    assert resp.status == 400
    assert await status_of(hooks, phone(1)) == "active"
