"""Who may decide: four eyes, expert review of edits, the expedited path, roles; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from alerts.store import drafts as draft_store
from alerts.workflow.policy import Refused
from alerts.workflow.states import TransitionError
from tests.workflow.support import World, build_world


async def _record(world: World, draft_id: int) -> draft_store.DraftRecord:
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    return record


def _sms(record: draft_store.DraftRecord) -> int:
    return next(m.id for m in record.messages if m.channel == "sms")


async def test_orange_warning_with_unchanged_reviewed_templates_needs_one_approver(world: World) -> None:
    draft_id = await world.ingest(level="orange")
    decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert decision.state == "dispatching" and decision.deliveries > 0
    record = await _record(world, draft_id)
    assert record.row.expedited and record.row.decided_by == "wang.approver"


async def test_yellow_warning_needs_two_different_approvers(world: World) -> None:
    draft_id = await world.ingest(level="yellow")
    first = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert first.state == "pending" and first.note == "1 of 2 approvals"
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert info.value.status == 409 and "already approved" in str(info.value)
    second = await world.service.actions.approve(world.users["zhao.approver"], draft_id, origin="test")
    assert second.state == "dispatching"
    assert not (await _record(world, draft_id)).row.expedited


@pytest.mark.parametrize("name", ["li.editor", "chen.expert", "liu.observer", "admin", "qx.campaigner", "feed.source"])
async def test_roles_without_approve_are_refused(world: World, name: str) -> None:
    draft_id = await world.ingest(level="orange")
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(world.users[name], draft_id, origin="test")
    assert info.value.status == 403 and "approver" in str(info.value)
    assert (await _record(world, draft_id)).state == "pending"


async def test_whoever_edited_a_draft_cannot_approve_it(world: World) -> None:
    from alerts.store import users as user_store

    async with world.service.db.write() as conn:
        both = await user_store.add(conn, "sun.both", ["editor", "approver"], "both-password-1", at=world.clock.now())
    draft_id = await world.ingest(level="orange")
    record = await _record(world, draft_id)
    await world.service.actions.edit(both, draft_id, _sms(record), "暴雨橙色预警：远离河道和低洼地，山区防范山洪。",
                                     origin="test")
    await world.service.actions.review(world.users["chen.expert"], draft_id, origin="test")
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(both, draft_id, origin="test")
    assert info.value.status == 403 and "four eyes" in str(info.value)


async def test_an_edited_text_needs_an_expert_review_and_then_approvers(world: World) -> None:
    draft_id = await world.ingest(level="orange")
    sms = _sms(await _record(world, draft_id))
    await world.service.actions.edit(world.users["li.editor"], draft_id, sms,
                                     "暴雨橙色预警：请远离河道、低洼地和地下通道，山区注意山洪。", origin="test")
    record = await _record(world, draft_id)
    verdict = world.service.policy.verdict(record.row, record.messages)
    assert verdict.needs_expert and not verdict.expedited and verdict.approvals_required == 2
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert info.value.status == 409 and "expert" in str(info.value)
    with pytest.raises(Refused):  # the editor cannot be their own expert
        await world.service.actions.review(world.users["li.editor"], draft_id, origin="test")
    await world.service.actions.review(world.users["chen.expert"], draft_id, origin="test")
    assert (await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")).state == "pending"
    assert (await world.service.actions.approve(world.users["zhao.approver"], draft_id, origin="test")).state == "dispatching"


async def test_the_expert_who_reviewed_an_edit_is_not_also_its_approver(world: World) -> None:
    from alerts.store import users as user_store

    async with world.service.db.write() as conn:
        dual = await user_store.add(conn, "zhou.dual", ["expert", "approver"], "dual-password-1", at=world.clock.now())
    draft_id = await world.ingest(level="orange")
    await world.service.actions.edit(world.users["li.editor"], draft_id, _sms(await _record(world, draft_id)),
                                     "暴雨橙色预警：远离河道和低洼地。", origin="test")
    await world.service.actions.review(dual, draft_id, origin="test")
    with pytest.raises(Refused) as info:
        await world.service.actions.approve(dual, draft_id, origin="test")
    assert "reviewed" in str(info.value)


async def test_editing_returns_the_draft_to_review_and_drops_earlier_approvals(world: World) -> None:
    draft_id = await world.ingest(level="yellow")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert len((await _record(world, draft_id)).approvals) == 1
    await world.service.actions.edit(world.users["li.editor"], draft_id, _sms(await _record(world, draft_id)),
                                     "暴雨黄色预警：注意出行安全，远离积水路段。", origin="test")
    record = await _record(world, draft_id)
    assert record.state == "pending" and record.approvals == [] and record.row.last_edited_by == "li.editor"


async def test_an_sms_edit_that_breaks_the_rules_is_refused_with_the_reason(world: World) -> None:
    draft_id = await world.ingest(level="orange")
    with pytest.raises(Refused) as info:
        await world.service.actions.edit(world.users["li.editor"], draft_id, _sms(await _record(world, draft_id)),
                                         "暴雨橙色预警，详情见 http://example.com", origin="test")
    assert info.value.status == 400 and "SMS" in str(info.value)


async def test_a_rejection_needs_a_reason_and_ends_the_draft(world: World) -> None:
    draft_id = await world.ingest(level="orange")
    with pytest.raises(Refused):
        await world.service.actions.reject(world.users["wang.approver"], draft_id, "  ", origin="test")
    with pytest.raises(Refused):
        await world.service.actions.reject(world.users["li.editor"], draft_id, "wrong area", origin="test")
    await world.service.actions.reject(world.users["chen.expert"], draft_id, "区域有误", origin="test")
    record = await _record(world, draft_id)
    assert record.state == "rejected" and record.row.reason == "区域有误"
    with pytest.raises(TransitionError):
        await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")


async def test_a_stopped_draft_sends_nothing_more(world: World) -> None:
    draft_id = await world.ingest(level="orange")
    decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    stopped = await world.service.actions.withdraw(world.users["zhao.approver"], draft_id, "误发，立即停止", origin="test")
    assert stopped.state == "withdrawn" and stopped.deliveries == decision.deliveries
    result = await world.service.worker.drain()
    assert result.sent == 0


async def test_an_exercise_runs_the_whole_workflow_but_reaches_only_the_test_audience(config_dir, database_url) -> None:
    text = (config_dir / "workflow.yaml").read_text(encoding="utf-8")
    text = text.replace("test_audience:\n  phones: []", "test_audience:\n  phones: ['+8613700137000']")
    world = await build_world(config_dir, database_url, workflow_yaml=text)
    try:
        draft_id = await world.ingest(level="orange", status="Exercise")
        record = await _record(world, draft_id)
        assert record.row.exercise
        decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
        assert decision.deliveries == 1  # one SMS message, one test number; the six residents get nothing
        await world.service.worker.drain()
        sent = world.service.settings.path(world.service.settings.channels.log_file).read_text(encoding="utf-8")
        assert "137****7000" in sent and "138****" not in sent
    finally:
        await world.service.close()
