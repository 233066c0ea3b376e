"""Inbound provider messages already acted on, by the provider's own message id (replays are refused)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import inbound_seen


async def first_time(conn: AsyncConnection, provider: str, message_id: str, *, at: datetime) -> bool:
    """Record `message_id`; False when it was recorded before (a replay or the provider's retry)."""
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(inbound_seen)
    result = await conn.execute(insert.values(provider=provider[:40], message_id=message_id[:100], received_at=at)
                                .on_conflict_do_nothing())
    return bool(result.rowcount)

