"""Escalation steps plug channels in by name: a `voice` channel is used for the repeat call as soon as the
service has one, SMS until then; the approvers' duty roster pages its phone even before the user exists."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from alerts.channels.log import LogChannel
from alerts.escalation import Escalator
from alerts.events.acks import acknowledge_phone
from alerts.store.tables import ack_attempts
from tests.events.support import events_world, sent
from tests.workflow.support import sample_alert

MISHAN_HEAD = "+8613900001001"


async def test_the_repeat_call_goes_by_voice_once_a_voice_channel_exists(config_dir: Path, database_url: str) -> None:
    world = await events_world(config_dir, database_url)
    try:
        service = world.service
        voice_log = service.settings.var_dir / "voice.log"
        # A channel named "voice" (here the log channel standing in for a voice provider) is all it takes.
        service.channels["voice"] = LogChannel(voice_log, name="voice")
        await service.receive(sample_alert(level="red"), source="test")
        await service.events.run_once()
        world.clock.advance(minutes=10)
        await service.events.run_once()
        async with service.db.read() as conn:
            steps = [(r.step_kind, r.channel) for r in await conn.execute(
                select(ack_attempts).where(ack_attempts.c.phone == MISHAN_HEAD).order_by(ack_attempts.c.id))]
        assert steps == [("first", "sms"), ("repeat", "voice")]
        assert "叫应提醒：" in voice_log.read_text(encoding="utf-8")
        # A key press on the call acknowledges like an SMS reply.
        async with service.db.write() as conn:
            done = await acknowledge_phone(conn, phone=MISHAN_HEAD, word="1", via="voice", at=world.clock.now())
        assert len(done) == 1
        # A number that was never asked acknowledges nothing; a word that is no acknowledgement neither.
        async with service.db.write() as conn:
            assert await acknowledge_phone(conn, phone="+8613900009999", word="收到", via="sms", at=world.clock.now()) == []
            assert await acknowledge_phone(conn, phone="+8613900002001", word="你好", via="sms", at=world.clock.now()) == []
    finally:
        await world.service.close()


async def test_the_shipped_approver_roster_pages_its_phone(config_dir: Path, database_url: str) -> None:
    world = await events_world(config_dir, database_url, people=False)
    try:
        draft_id = await world.ingest(level="orange")
        report = await Escalator(world.service).run_once()
        [notice] = [n for n in report.notices if n.draft_id == draft_id]
        assert notice.reached == ["yjj.duty"] and "no such user yet" in notice.missed[0]
        assert any(s["to"] == "+86 138****0611" and "待审批" in s["text"] for s in sent(world))
    finally:
        await world.service.close()
