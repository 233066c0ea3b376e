"""Reminders, escalation to the backup, the optional red auto-release and expiry, on a ManualClock."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from alerts.escalation import Escalator
from alerts.scheduler import Background
from alerts.store import drafts as draft_store
from alerts.workflow import audit
from tests.workflow.support import World, build_world

DUTY = "duty:\n  primary: [wang.approver]\n  backup: [zhao.approver]\n"


async def _world(config_dir: Path, database_url: str, *, auto_release: str = "null") -> World:
    text = (config_dir / "workflow.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^duty:\n.*?(?=^\S)", DUTY, text)  # the shipped roster names example users
    text = text.replace("auto_release_red_after_minutes: null", f"auto_release_red_after_minutes: {auto_release}")
    return await build_world(config_dir, database_url, workflow_yaml=text)


def _sent(world: World) -> list[dict]:
    path = world.service.settings.path(world.service.settings.channels.log_file)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def _state(world: World, draft_id: int) -> str:
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    return record.state


async def test_the_on_duty_approver_is_reminded_at_once_and_the_backup_after_the_levels_minutes(
        config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url)
    try:
        draft_id = await world.ingest(level="red")
        escalator = Escalator(world.service)
        first = await escalator.run_once()
        assert [(n.draft_id, n.step, n.notify, n.reached) for n in first.notices] == \
            [(draft_id, 0, "primary", ["wang.approver"])]
        assert (await escalator.run_once()).notices == []  # each step once
        world.clock.advance(minutes=2, seconds=59)
        assert (await escalator.run_once()).notices == []  # red: the backup after 3 minutes
        world.clock.advance(seconds=1)
        [backup] = (await escalator.run_once()).notices
        assert (backup.step, backup.notify, backup.reached) == (1, "backup", ["zhao.approver"])
        world.clock.advance(minutes=60)
        assert (await escalator.run_once()).notices == []
        sms = _sent(world)
        assert [m["to"] for m in sms] == ["+86 139****9000", "+86 139****9001"]
        assert all(m["draft"] == draft_id and "待审批" in m["text"] and "暴雨红色预警" in m["text"] for m in sms)
        assert "备班" in sms[1]["text"]
        assert await _state(world, draft_id) == "pending"  # auto-release is off by default
    finally:
        await world.service.close()


async def test_levels_without_their_own_steps_use_the_default_schedule(config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url)
    try:
        await world.ingest(level="yellow")
        escalator = Escalator(world.service)
        assert len((await escalator.run_once()).notices) == 1
        world.clock.advance(minutes=14)
        assert (await escalator.run_once()).notices == []
        world.clock.advance(minutes=1)
        assert [n.notify for n in (await escalator.run_once()).notices] == ["backup"]
    finally:
        await world.service.close()


async def test_replicas_running_escalation_together_notify_each_person_once(config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url)
    try:
        await world.ingest(level="red")
        world.clock.advance(minutes=5)  # both steps are due at once
        reports = await asyncio.gather(*(Escalator(world.service).run_once() for _ in range(4)))
        notices = [n for r in reports for n in r.notices]
        assert sorted(n.step for n in notices) == [0, 1]
        assert len(_sent(world)) == 2
    finally:
        await world.service.close()


async def test_an_exercise_reminder_is_marked_as_a_drill(config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url)
    try:
        await world.ingest(level="orange", status="Exercise")
        await Escalator(world.service).run_once()
        [sms] = _sent(world)
        assert "待审批提醒：演练：" in sms["text"] and sms["exercise"] is True
    finally:
        await world.service.close()


async def test_a_decided_draft_stops_escalating(config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url)
    try:
        draft_id = await world.ingest(level="red")
        escalator = Escalator(world.service)
        await escalator.run_once()
        await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
        world.clock.advance(minutes=10)
        assert (await escalator.run_once()).notices == []
    finally:
        await world.service.close()


async def test_red_auto_release_when_configured_sends_unchanged_texts_after_the_wait(
        config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url, auto_release="10")
    try:
        draft_id = await world.ingest(level="red")
        woken: list[bool] = []
        escalator = Escalator(world.service, wake=lambda: woken.append(True))
        await escalator.run_once()
        world.clock.advance(minutes=9)
        assert (await escalator.run_once()).released == []
        world.clock.advance(minutes=1)
        assert (await escalator.run_once()).released == [draft_id]
        assert woken == [True]
        assert await _state(world, draft_id) == "dispatching"
        async with world.service.db.read() as conn:
            entries = await audit.recent(conn, target=f"draft:{draft_id}")
        assert entries[0].action == "draft.auto_released" and entries[0].actor == "system"
    finally:
        await world.service.close()


async def test_auto_release_never_sends_an_edited_red_text_or_another_level(config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url, auto_release="10")
    try:
        red = await world.ingest(level="red", identifier="14058141600000_20260712053001")
        async with world.service.db.read() as conn:
            record = await draft_store.get(conn, red)
        sms = next(m.id for m in record.messages if m.channel == "sms")
        await world.service.actions.edit(world.users["li.editor"], red, sms, "暴雨红色预警：立即转移到安全地带。", origin="t")
        world.clock.advance(minutes=30)
        assert (await Escalator(world.service).run_once()).released == []
        assert await _state(world, red) == "pending"
    finally:
        await world.service.close()


async def test_a_pending_draft_expires_with_its_alert(config_dir: Path, database_url: str) -> None:
    world = await _world(config_dir, database_url)
    try:
        # The sample alert expires at 17:30 Asia/Shanghai (09:30 UTC); the clock starts at 21:35 UTC the day before.
        draft_id = await world.ingest(level="orange")
        background = Background(world.service)
        world.clock.advance(hours=11, minutes=54)
        await background.sweep_expiry()
        assert await _state(world, draft_id) == "pending"
        world.clock.advance(minutes=1)
        await background.sweep_expiry()
        assert await _state(world, draft_id) == "expired"
        # Nobody is reminded about an expired draft, and nobody can approve it.
        assert all(n.draft_id != draft_id or n.step == 0 for n in (await Escalator(world.service).run_once()).notices)
        from alerts.workflow.states import TransitionError

        try:
            await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
        except TransitionError as exc:
            assert "'expired'" in str(exc)
        else:
            raise AssertionError("an expired draft was approved")
    finally:
        await world.service.close()
