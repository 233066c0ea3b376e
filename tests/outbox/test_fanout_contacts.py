"""Organisations' contacts: group chats get the IM text where the draft has one, else the notice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from alerts.organisations import reach_for_draft
from alerts.outbox import fanout
from alerts.store import drafts as draft_store
from alerts.store.tables import contacts, deliveries, messages, organisations

AT = datetime(2026, 7, 12, 6, 0, tzinfo=UTC)
AREA = "140581101"


async def _org(conn: Any, key: str, kind: str, channels: list[str]) -> None:
    result = await conn.execute(organisations.insert().values(key=key, name=key, kind=kind, area=AREA, status="active",
                                                              created_at=AT, updated_at=AT))
    org_id = result.inserted_primary_key[0]
    for ch in channels:
        await conn.execute(contacts.insert().values(organisation_id=org_id, name="", channel=ch,
                                                    address_enc="(encrypted)", address_hint=f"{ch} …{key}"))


def _message(audience: str, channel: str) -> draft_store.NewMessage:
    return draft_store.NewMessage(route="test", template_id=f"{audience}.{channel}", template_hash="h",
                                  template_reviewed=True, audience=audience, channel=channel, language="zh-CN",
                                  areas=[AREA], text=f"{audience} {channel}")


async def test_group_chats_get_the_im_text_if_there_is_one_and_the_notice_otherwise(database: Any) -> None:
    async with database.write() as conn:
        await _org(conn, "school", "school", ["wecom", "email"])
        await _org(conn, "village", "village", ["dingtalk", "email", "sms"])
        draft_id = await draft_store.create(
            conn, alert_id=None, kind="warning", hazard="rainstorm", level="orange", group_key="chain:1",
            exercise=False, created_by="system", at=AT, expires_at=None,
            items=[_message("schools", "notice"), _message("villages", "notice"), _message("villages", "im")])
        record = await draft_store.get(conn, draft_id)
        assert record is not None
        await fanout.fan_out(conn, record.row, record.messages, now=AT, test_phones=[])
        rows = await conn.execute(
            select(messages.c.audience, messages.c.channel.label("message"), deliveries.c.channel)
            .join(messages, messages.c.id == deliveries.c.message_id))
        got = sorted((r.audience, r.message, r.channel) for r in rows)
        shown = await reach_for_draft(conn, draft_id)
    assert got == [
        ("schools", "notice", "email"), ("schools", "notice", "wecom"),   # no IM text for schools: the notice
        ("villages", "im", "dingtalk"),                                   # the short text, not the notice too
        ("villages", "notice", "email"),
    ]
    # The draft page shows exactly what the fan-out does.
    by_message = {m.id: (m.audience, m.channel) for m in record.messages}
    reached = sorted((by_message[mid], ch.split()[0]) for mid, found in shown.items() for r in found for ch in r.channels)
    assert reached == [(("schools", "notice"), "email"), (("schools", "notice"), "wecom"),
                       (("villages", "im"), "dingtalk"), (("villages", "notice"), "email")]
