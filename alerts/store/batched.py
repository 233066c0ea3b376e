"""The outbox's hottest writes as one statement per batch: the rows travel as one JSON parameter, which
the database unpacks itself (SQLite json_each, PostgreSQL jsonb_to_recordset).

At thousands of messages a second, a statement per row (even through executemany) costs the event loop
more than the provider requests do; with one parameter, the per-row work happens inside the database.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import UtcDateTime

_NOW = bindparam("now", type_=UtcDateTime())

# Sent: a status callback can beat this record (Twilio is fast), so what it reported is kept.
_SENT = {
    "sqlite": """
UPDATE deliveries SET
  state = CASE WHEN provider_status = 'delivered' THEN 'delivered'
               WHEN provider_status IN ('undelivered', 'failed') THEN 'failed' ELSE 'sent' END,
  provider_id = coalesce(provider_id, j.pid),
  provider_status = coalesce(provider_status, j.ps),
  reconciled = coalesce(j.rec, reconciled),
  error = '', sent_at = :now, updated_at = :now, lease_owner = NULL, lease_until = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.pid') AS pid, json_extract(value, '$.ps') AS ps, json_extract(value, '$.rec') AS rec
      FROM json_each(:rows)) AS j
-- "+": the rows given drive the update, one primary-key lookup each (not a scan of them per row in flight)
WHERE deliveries.id = j.id AND +deliveries.state = 'in_flight' AND +deliveries.lease_owner = :owner
""",
    "postgresql": """
UPDATE deliveries SET
  state = CASE WHEN deliveries.provider_status = 'delivered' THEN 'delivered'
               WHEN deliveries.provider_status IN ('undelivered', 'failed') THEN 'failed' ELSE 'sent' END,
  provider_id = coalesce(deliveries.provider_id, j.pid),
  provider_status = coalesce(deliveries.provider_status, j.ps),
  reconciled = coalesce(j.rec, deliveries.reconciled),
  error = '', sent_at = :now, updated_at = :now, lease_owner = NULL, lease_until = NULL
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS j(id bigint, pid text, ps text, rec text)
WHERE deliveries.id = j.id AND deliveries.state = 'in_flight' AND deliveries.lease_owner = :owner
""",
}

_ATTEMPTS = {
    "sqlite": """
INSERT INTO delivery_attempts (delivery_id, at, outcome, error_code, detail, latency_ms)
SELECT json_extract(j.value, '$.id'), :now, json_extract(j.value, '$.o'), json_extract(j.value, '$.c'), coalesce(json_extract(j.value, '$.d'), ''),
       json_extract(j.value, '$.ms')
FROM json_each(:rows) AS j
""",
    "postgresql": """
INSERT INTO delivery_attempts (delivery_id, at, outcome, error_code, detail, latency_ms)
SELECT j.id, :now, j.o, j.c, coalesce(j.d, ''), j.ms
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS j(id bigint, o text, c text, d text, ms double precision)
""",
}

_STATEMENTS = {name: {dialect: text(sql).bindparams(_NOW) for dialect, sql in by.items()}
               for name, by in (("sent", _SENT), ("attempts", _ATTEMPTS))}


def _dumps(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


async def mark_sent(conn: AsyncConnection, rows: list[dict[str, Any]], *, owner: str, now: datetime) -> None:
    """rows: {"id", "pid", "ps", "rec"}; only where `owner` still holds the lease."""
    if rows:
        await conn.execute(_STATEMENTS["sent"][conn.dialect.name], {"rows": _dumps(rows), "owner": owner, "now": now})


async def add_attempts(conn: AsyncConnection, rows: list[dict[str, Any]], *, now: datetime) -> None:
    """rows: {"id", "o" (outcome), "c" (error code), "d" (detail), "ms" (latency)}."""
    if rows:
        await conn.execute(_STATEMENTS["attempts"][conn.dialect.name], {"rows": _dumps(rows), "now": now})
