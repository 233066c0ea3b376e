"""Raw inputs: every received document kept verbatim (bounded), with where it came from and its fate."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import raw_inputs

MAX_STORED_BYTES = 2 * 1024 * 1024


async def record(
    conn: AsyncConnection, *, data: bytes, source: str, origin: str, at: datetime, outcome: str, reason: str = "",
    alert_id: int | None = None,
) -> int:
    stored = data[:MAX_STORED_BYTES]
    result = await conn.execute(
        raw_inputs.insert().values(
            source=source[:200],
            origin=origin,
            received_at=at,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            content=stored,
            truncated=len(stored) < len(data),
            outcome=outcome,
            reason=reason,
            alert_id=alert_id,
        )
    )
    return int(result.inserted_primary_key[0])


async def set_outcome(conn: AsyncConnection, raw_id: int, *, outcome: str, alert_id: int | None = None) -> None:
    await conn.execute(update(raw_inputs).where(raw_inputs.c.id == raw_id).values(outcome=outcome, alert_id=alert_id))
