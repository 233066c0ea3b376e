"""The audit log is hash-chained: `alerts audit verify` passes on the real log and fails on a tampered one."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import delete, select, update

from alerts.cli import cli
from alerts.store.tables import audit_log
from alerts.workflow import audit
from tests.workflow.support import World, build_world


async def _decided_world(config_dir: Path, database_url: str) -> World:
    world = await build_world(config_dir, database_url)
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="console:127.0.0.1")
    return world


async def _verify(config_dir: Path, database_url: str, *args: str) -> tuple[int, str]:
    # The command runs its own event loop, so it runs in a thread like a separate process would.
    return await asyncio.to_thread(_verify_sync, config_dir, database_url, *args)


def _verify_sync(config_dir: Path, database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["audit", "verify", "--config", str(config_dir), *args],
                                env={"ALERTS_DATABASE_URL": database_url}, catch_exceptions=False)
    return result.exit_code, result.output


async def test_every_decision_is_on_record_with_who_what_when_and_where(config_dir: Path, database_url: str) -> None:
    world = await _decided_world(config_dir, database_url)
    try:
        async with world.service.db.read() as conn:
            rows = list(await conn.execute(select(audit_log).order_by(audit_log.c.id)))
        approved = next(r for r in rows if r.action == "draft.approved")
        assert approved.actor == "wang.approver" and approved.origin == "console:127.0.0.1"
        assert approved.before == {"state": "pending"} and approved.after["state"] == "dispatching"
        assert approved.at == world.clock.now()
        assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    finally:
        await world.service.close()


async def test_verify_passes_on_an_untouched_log(config_dir: Path, database_url: str) -> None:
    world = await _decided_world(config_dir, database_url)
    await world.service.close()
    code, out = await _verify(config_dir, database_url)
    assert code == 0, out
    assert out.startswith("ok: ") and "chain intact" in out


async def test_verify_fails_on_a_changed_entry_and_names_it(config_dir: Path, database_url: str) -> None:
    world = await _decided_world(config_dir, database_url)
    async with world.service.db.write() as conn:
        target = (await conn.execute(select(audit_log.c.id).where(audit_log.c.action == "draft.approved"))).scalar_one()
        await conn.execute(update(audit_log).where(audit_log.c.id == target).values(actor="someone.else"))
    await world.service.close()
    code, out = await _verify(config_dir, database_url)
    assert code == 1
    assert f"entry {target} (draft.approved by someone.else): content does not match its hash" in out


async def test_verify_fails_on_a_removed_entry(config_dir: Path, database_url: str) -> None:
    world = await _decided_world(config_dir, database_url)
    async with world.service.db.write() as conn:
        ids = list((await conn.execute(select(audit_log.c.id).order_by(audit_log.c.id))).scalars())
        await conn.execute(delete(audit_log).where(audit_log.c.id == ids[len(ids) // 2]))
    await world.service.close()
    code, out = await _verify(config_dir, database_url)
    assert code == 1
    assert f"entry {ids[len(ids) // 2 + 1]}: previous hash does not match" in out and "tampered" in out


async def test_verify_with_a_noted_head_detects_entries_removed_from_the_end(config_dir: Path, database_url: str) -> None:
    world = await _decided_world(config_dir, database_url)
    async with world.service.db.read() as conn:
        head = (await audit.verify(conn)).head
    async with world.service.db.write() as conn:
        last = (await conn.execute(select(audit_log.c.id).order_by(audit_log.c.id.desc()).limit(1))).scalar_one()
        await conn.execute(delete(audit_log).where(audit_log.c.id == last))
    await world.service.close()
    assert (await _verify(config_dir, database_url))[0] == 0  # a shorter chain is still a chain...
    code, out = await _verify(config_dir, database_url, "--head", head)
    assert code == 1 and "is not in the log" in out  # ...but not the one noted before
