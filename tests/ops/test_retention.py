"""Retention: old raw inputs, finished deliveries and attempts are pruned; open work and the audit log stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select, update

from alerts.app import Service
from alerts.clock import ManualClock
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.retention import due, prune, schedule
from alerts.settings import ConfigError, load_settings
from alerts.settings.retention import RetentionConfig, retention_config
from alerts.store import feeds as feed_store
from alerts.store import tables
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from alerts.workflow import audit
from tests.ops.helpers import TOWNSHIPS, cap_alert, residents_csv


async def count(service: Service, table: tables.Table) -> int:
    async with service.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar() or 0)


async def send_warning(service: Service, clock: ManualClock, identifier: str, approver: object) -> int:
    intake = await service.receive(cap_alert(identifier, TOWNSHIPS[:2], now=clock.now()), source="dropbox")
    [draft_id] = intake.drafts.created
    await service.actions.approve(approver, draft_id, origin="test")  # type: ignore[arg-type]
    await service.worker.drain()
    return draft_id


async def test_a_retention_round_prunes_only_what_is_past_its_period_and_never_the_audit_log(
        config_dir: Path, database_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old = now - timedelta(days=500)
    clock = ManualClock(old)
    service = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url}), clock=clock)
    await upgrade(service.db)
    try:
        async with service.db.write() as conn:
            approver = await user_store.add(conn, "wang.approver", ["approver"], "approver-password", at=old)
            rows, _ = parse_residents_csv(residents_csv(6, TOWNSHIPS[:2]), service.areas)
            await upsert_residents(conn, rows, at=old, report=ImportReport())
        await send_warning(service, clock, "OLD-1", approver)
        async with service.db.write() as conn:
            # A feed entry pointing at the old raw input keeps its key (so the entry is never re-processed).
            await feed_store.claim_entry(conn, "dropbox", "old-entry", at=old)
            await conn.execute(update(tables.feed_entries).values(raw_input_id=select(func.min(tables.raw_inputs.c.id))
                                                                  .scalar_subquery()))
        clock.set(now - timedelta(days=100))  # recent enough for deliveries, too old for attempts
        mid_draft = await send_warning(service, clock, "MID-1", approver)
        clock.set(now)
        # An old delivery still queued (its draft never finished) is open work: never pruned.
        async with service.db.write() as conn:
            some = (await conn.execute(select(tables.deliveries.c.id).order_by(tables.deliveries.c.id).limit(1))).scalar()
            await conn.execute(update(tables.deliveries).where(tables.deliveries.c.id == some).values(state="queued"))
        await send_warning(service, clock, "NEW-1", approver)
        # Inbound SMS ids kept against replays: an old one goes, a recent one stays.
        async with service.db.write() as conn:
            await conn.execute(tables.inbound_seen.insert(), [
                dict(provider="twilio", message_id="SM-old", received_at=now - timedelta(days=40)),
                dict(provider="twilio", message_id="SM-new", received_at=now - timedelta(days=1))])

        audit_before = await count(service, tables.audit_log)
        assert await count(service, tables.deliveries) == 18
        config = RetentionConfig(raw_inputs_days=400, deliveries_days=400, delivery_attempts_days=90, batch_size=100)
        planned = await due(service.db, config, now)
        assert (planned.raw_inputs, planned.deliveries, planned.delivery_attempts) == (1, 5, 12)
        assert planned.inbound_seen == 1
        assert await count(service, tables.deliveries) == 18, "a dry run deletes nothing"

        pruned = await prune(service.db, config, now)
        assert (pruned.raw_inputs, pruned.deliveries, pruned.delivery_attempts, pruned.inbound_seen) == (1, 5, 12, 1)
        async with service.db.read() as conn:
            assert [r.message_id for r in await conn.execute(select(tables.inbound_seen))] == ["SM-new"]
        assert await count(service, tables.deliveries) == 13  # 1 old open + 6 mid + 6 new
        assert await count(service, tables.delivery_attempts) == 6  # only the new ones: 90 days
        assert await count(service, tables.raw_inputs) == 2
        async with service.db.read() as conn:
            entry = (await conn.execute(select(tables.feed_entries))).one()
            assert entry.entry_key == "old-entry" and entry.raw_input_id is None
            mid_left = (await conn.execute(
                select(func.count()).select_from(tables.deliveries.join(tables.messages))
                .where(tables.messages.c.draft_id == mid_draft))).scalar()
            assert mid_left == 6
            # The audit log: every entry kept, one more saying what was pruned, the chain still whole.
            assert await count(service, tables.audit_log) == audit_before + 1
            last = (await conn.execute(select(tables.audit_log).order_by(tables.audit_log.c.id.desc()).limit(1))).one()
            assert last.action == "retention.pruned" and last.after["deliveries"] == 5
            assert (await audit.verify(conn)).ok

        again = await prune(service.db, config, now)
        assert again.total == 0, "a second round finds nothing more"
    finally:
        await service.close()


async def test_the_retention_job_is_scheduled_at_the_configured_interval(config_dir: Path) -> None:
    (config_dir / "retention.yaml").write_text("interval_minutes: 15\n", encoding="utf-8")
    service = Service(load_settings(config_dir))
    scheduler = AsyncIOScheduler()
    try:
        schedule(service, scheduler)
        job = scheduler.get_job("retention")
        assert job is not None and job.trigger.interval == timedelta(minutes=15)
    finally:
        await service.close()


def test_a_bad_retention_file_names_the_file_key_and_expectation(config_dir: Path) -> None:
    (config_dir / "retention.yaml").write_text("raw_inputs_days: 0\ndelivery_attempts_dayz: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        retention_config(load_settings(config_dir))
    text = "\n".join(err.value.lines)
    assert "retention.yaml: raw_inputs_days: 0" in text and "greater than or equal to 1" in text
    assert "delivery_attempts_dayz: unknown key" in text


def test_the_example_retention_file_is_valid_and_keeps_attempts_no_longer_than_deliveries(config_dir: Path) -> None:
    config = retention_config(load_settings(config_dir))
    assert config.enabled and config.delivery_attempts_days <= config.deliveries_days
    with pytest.raises(ValueError, match="cannot exceed"):
        RetentionConfig(deliveries_days=10, delivery_attempts_days=20)
