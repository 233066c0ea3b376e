"""Retention: prune raw inputs, finished deliveries and provider attempts past their configured age.

The audit log is never pruned (nor alerts, drafts and messages, which it refers to). Rows go in
small batches, one transaction each, so a long prune never holds up sending. On PostgreSQL a
transaction-level advisory lock lets one replica prune at a time; the others skip the round.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, func, select, text, update

from alerts.settings.retention import RetentionConfig
from alerts.store import tables
from alerts.store.engine import Database
from alerts.workflow import audit

log = logging.getLogger("alerts.retention")

OPEN_DELIVERY_STATES = ("queued", "in_flight")
ADVISORY_LOCK_KEY = 0x616C_7274  # "alrt": one pruner at a time across replicas
MAX_BATCHES = 1000  # per kind and run: a bounded loop; the next run continues


@dataclass
class Pruned:
    raw_inputs: int = 0
    deliveries: int = 0
    delivery_attempts: int = 0
    inbound_seen: int = 0

    @property
    def total(self) -> int:
        return self.raw_inputs + self.deliveries + self.delivery_attempts + self.inbound_seen


def _dependents(target: Table) -> list[tuple[Table, Any]]:
    """Every (table, column) holding a foreign key to `target`, from the schema (stages may add more)."""
    found = []
    for table in tables.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is target:
                found.append((table, fk.parent))
    return found


async def _locked(conn: Any) -> bool:
    if conn.dialect.name != "postgresql":
        return True  # SQLite: writes are serialised anyway
    return bool((await conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": ADVISORY_LOCK_KEY})).scalar())


async def _prune_rows(db: Database, target: Table, where: Any, batch_size: int) -> int | None:
    """Delete rows of `target` matching `where`, detaching or deleting what refers to them.

    Returns the number deleted, or None when another replica holds the pruning lock.
    """
    total = 0
    for _ in range(MAX_BATCHES):
        async with db.write() as conn:
            if not await _locked(conn):
                return None if total == 0 else total
            ids = [r[0] for r in await conn.execute(select(target.c.id).where(where).order_by(target.c.id)
                                                    .limit(batch_size))]
            if not ids:
                return total
            for table, column in _dependents(target):
                # A reference that may be empty is detached (feed entries keep their key); a row that
                # cannot live without its parent (an attempt without its delivery) goes with it.
                if column.nullable:
                    await conn.execute(update(table).where(column.in_(ids)).values({column.name: None}))
                else:
                    await conn.execute(delete(table).where(column.in_(ids)))
            await conn.execute(delete(target).where(target.c.id.in_(ids)))
            total += len(ids)
        if len(ids) < batch_size:
            return total
    return total


def conditions(config: RetentionConfig, now: datetime) -> dict[str, tuple[Table, Any]]:
    """What each kind prunes: rows older than its period (deliveries only once finished)."""
    d, a, r = tables.deliveries, tables.delivery_attempts, tables.raw_inputs
    return {
        "delivery_attempts": (a, a.c.at < now - timedelta(days=config.delivery_attempts_days)),
        "deliveries": (d, and_(d.c.state.not_in(OPEN_DELIVERY_STATES),
                               d.c.updated_at < now - timedelta(days=config.deliveries_days))),
        "raw_inputs": (r, r.c.received_at < now - timedelta(days=config.raw_inputs_days)),
    }


def _seen_where(config: RetentionConfig, now: datetime) -> Any:
    # Replayed inbound SMS (a STOP sent again by an attacker or a provider retry) come within hours;
    # past that window the record of having acted on one is no longer needed.
    return tables.inbound_seen.c.received_at < now - timedelta(days=config.inbound_seen_days)


async def due(db: Database, config: RetentionConfig, now: datetime) -> Pruned:
    """What a round would prune now, without deleting anything (`alerts db prune --dry-run`)."""
    counts = Pruned()
    async with db.read() as conn:
        for kind, (table, where) in conditions(config, now).items():
            setattr(counts, kind, int((await conn.execute(select(func.count()).select_from(table).where(where)))
                                      .scalar() or 0))
        counts.inbound_seen = int((await conn.execute(select(func.count()).select_from(tables.inbound_seen)
                                                      .where(_seen_where(config, now)))).scalar() or 0)
    return counts


async def prune(db: Database, config: RetentionConfig, now: datetime) -> Pruned:
    """One retention round; safe to run on every replica at once."""
    result = Pruned()
    for kind, (table, where) in conditions(config, now).items():
        count = await _prune_rows(db, table, where, config.batch_size)
        if count is None:
            log.info("retention: another replica is pruning; skipped this round")
            break
        setattr(result, kind, count)
    else:
        async with db.write() as conn:
            if await _locked(conn):
                gone = await conn.execute(delete(tables.inbound_seen).where(_seen_where(config, now)))
                result.inbound_seen = int(gone.rowcount or 0)
    if result.total:
        async with db.write() as conn:
            await audit.append(conn, at=now, actor="system", action="retention.pruned", target="", origin="scheduler",
                               after={**asdict(result), "raw_inputs_days": config.raw_inputs_days,
                                      "deliveries_days": config.deliveries_days,
                                      "delivery_attempts_days": config.delivery_attempts_days,
                                      "inbound_seen_days": config.inbound_seen_days})
        log.info("retention: pruned %d raw inputs, %d deliveries, %d delivery attempts",
                 result.raw_inputs, result.deliveries, result.delivery_attempts)
    return result


def schedule(service: Any, scheduler: Any) -> None:
    """Add the retention round to the scheduler (every retention.yaml interval_minutes)."""
    from alerts.settings.retention import retention_config

    config = retention_config(service.settings)
    if not config.enabled:
        log.warning("retention is off (retention.yaml enabled: false): nothing is pruned")
        return

    async def run() -> None:
        try:
            await prune(service.db, config, service.clock.now())
        except Exception:  # noqa: BLE001 - a failed round is logged and retried at the next interval
            log.exception("retention round failed; it runs again in %.0f minutes", config.interval_minutes)

    scheduler.add_job(run, "interval", minutes=config.interval_minutes, id="retention", max_instances=1, coalesce=True)
