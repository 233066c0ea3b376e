"""Indexes a large fan-out writes through: the provider-id index holds only rows that have one (0009_perf)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, text, update

from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.store.tables import deliveries


async def index_definition(database: Database, name: str) -> str:
    if database.is_sqlite:
        query = text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name")
    else:
        query = text("SELECT indexdef FROM pg_indexes WHERE indexname = :name")
    async with database.read() as conn:
        return str((await conn.execute(query, {"name": name})).scalar_one())


async def test_the_provider_id_index_leaves_out_deliveries_without_one(database: Database) -> None:
    definition = await index_definition(database, "ix_deliveries_provider_id")
    assert "provider_id IS NOT NULL" in definition.replace("(", "").replace(")", "")


async def test_a_delivery_is_still_found_by_its_provider_id(database: Database) -> None:
    at = datetime(2026, 7, 12, tzinfo=UTC)
    items = [draft_store.NewMessage(route="r", template_id="t", template_hash="h", template_reviewed=True,
                                    audience="residents", channel="sms", language="zh-CN", areas=["140581001"],
                                    text="x")]
    async with database.write() as conn:
        draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level="red",
                                            group_key="chain:t", exercise=False, created_by="t", at=at,
                                            expires_at=None, items=items)
        record = await draft_store.get(conn, draft_id)
        assert record is not None
        rows = [dict(message_id=record.messages[0].id, recipient_key=f"r:{i}", channel="sms", address=f"+8613900000{i:03d}",
                     priority=1, state="queued", attempts=0, in_doubt=False, next_attempt_at=at, created_at=at,
                     updated_at=at, error="") for i in range(5)]
        await conn.execute(deliveries.insert(), rows)
        await conn.execute(update(deliveries).where(deliveries.c.recipient_key == "r:3").values(provider_id="SM3"))
    async with database.read() as conn:
        found = (await conn.execute(select(deliveries.c.recipient_key)
                                    .where(deliveries.c.provider_id == "SM3"))).scalars().all()
    assert found == ["r:3"]
