"""A campaign draft, once approved, gets the fan-out's quiet hours and per-recipient cap; warnings do not."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from alerts.app import Service
from alerts.campaigns.scheduling import CampaignRunner
from alerts.clock import ManualClock
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.store import users as user_store
from alerts.store.tables import deliveries, messages

from .conftest import add_warning_draft, local

ROOT = Path(__file__).resolve().parents[2]


async def _setup(service: Service) -> object:
    now = service.clock.now()
    async with service.db.write() as conn:
        rows, problems = parse_residents_csv((ROOT / "config/demo/residents.csv").read_text(), service.areas)
        assert not problems
        await upsert_residents(conn, rows, at=now, report=ImportReport())
        return await user_store.add(conn, "wang.approver", ["approver"], "approver-password-1", at=now)


async def _deliveries(service: Service, draft_id: int) -> list:
    async with service.db.read() as conn:
        return list(await conn.execute(select(deliveries).join(messages, messages.c.id == deliveries.c.message_id)
                                       .where(messages.c.draft_id == draft_id)))


async def _trigger_and_approve(service: Service, approver: object, campaign: str) -> int:
    from alerts.campaigns.ondemand import OnDemand, TriggerBody

    runner = CampaignRunner(service)
    creator = await _campaigner(service)
    outcome = await OnDemand(runner).trigger(creator, runner.calendar.get(campaign), TriggerBody(), origin="test")
    assert outcome.state == "drafted", outcome.reason
    await service.actions.approve(approver, outcome.draft_id, origin="test")  # type: ignore[arg-type]
    return outcome.draft_id  # type: ignore[return-value]


async def _campaigner(service: Service) -> object:
    async with service.db.write() as conn:
        existing = await user_store.by_name(conn, "qx.campaigner")
        return existing or await user_store.add(conn, "qx.campaigner", ["campaigner"], "campaigner-pass-1",
                                                at=service.clock.now())


async def test_a_campaign_approved_in_quiet_hours_waits_until_morning(service: Service, clock: ManualClock) -> None:
    approver = await _setup(service)
    clock.set(local(2027, 7, 10, 22, 0))
    draft_id = await _trigger_and_approve(service, approver, "heat_spell")
    rows = await _deliveries(service, draft_id)
    assert rows and all(r.next_attempt_at == local(2027, 7, 11, 8, 0) for r in rows)
    # The worker sends nothing during quiet hours, then everything once the window ends.
    assert (await service.worker.run_once()).claimed == 0
    clock.set(local(2027, 7, 11, 8, 0, 1))
    result = await service.worker.run_once()
    assert result.claimed == len(rows)


async def test_a_warning_approved_in_quiet_hours_is_due_at_once(service: Service, clock: ManualClock) -> None:
    approver = await _setup(service)
    clock.set(local(2027, 7, 10, 22, 0))
    warning = await add_warning_draft(service, ["140581101", "140581102", "140581103"])
    await service.actions.approve(approver, warning, origin="test")  # type: ignore[arg-type]
    rows = await _deliveries(service, warning)
    assert rows and all(r.next_attempt_at == clock.now() for r in rows)


async def test_a_resident_gets_at_most_two_campaign_messages_a_week(service: Service, clock: ManualClock) -> None:
    approver = await _setup(service)
    clock.set(local(2027, 7, 12, 10, 0))
    first = await _trigger_and_approve(service, approver, "heat_spell")
    reached = {r.recipient_key for r in await _deliveries(service, first)}
    assert reached and all(r.next_attempt_at == clock.now() for r in await _deliveries(service, first))
    clock.advance(days=2)
    second = await _trigger_and_approve(service, approver, "heat_spell")
    assert {r.recipient_key for r in await _deliveries(service, second)} == reached
    clock.advance(days=2)
    third = await _trigger_and_approve(service, approver, "heat_spell")
    assert await _deliveries(service, third) == []  # capped: two already this week
    clock.advance(days=4)  # a week after the first
    fourth = await _trigger_and_approve(service, approver, "heat_spell")
    assert {r.recipient_key for r in await _deliveries(service, fourth)} == reached


async def test_approved_campaign_messages_are_held_while_a_warning_for_their_areas_is_open(
        service: Service, clock: ManualClock) -> None:
    from alerts.store import drafts as draft_store

    approver = await _setup(service)
    runner = CampaignRunner(service)
    clock.set(local(2027, 7, 10, 22, 0))
    draft_id = await _trigger_and_approve(service, approver, "heat_spell")  # due at 08:00 (quiet hours)
    clock.set(local(2027, 7, 11, 7, 59, 30))
    assert await runner.hold() == 0  # no warning: nothing held
    warning = await add_warning_draft(service, ["140581101"])  # 米山镇: some of the campaign's residents
    held = await runner.hold()
    rows = await _deliveries(service, draft_id)
    assert held == len(rows) and all(r.next_attempt_at == local(2027, 7, 11, 8, 4, 30) for r in rows)
    assert all(f"warning draft(s) {warning} open" in r.error for r in rows)
    clock.set(local(2027, 7, 11, 8, 0, 1))
    assert (await service.worker.run_once()).claimed == 0  # the warning's advice comes first
    assert await runner.hold() == 0  # held until 08:04:30: not due yet
    clock.set(local(2027, 7, 11, 8, 3, 30))
    assert await runner.hold() == len(rows)  # due soon again and the warning is still open: renewed
    async with service.db.write() as conn:
        await draft_store.transition(conn, warning, "pending", "rejected", at=clock.now(), by="t", reason="test")
    assert await runner.hold() == 0
    clock.set(local(2027, 7, 11, 8, 9))
    assert (await service.worker.run_once()).claimed == len(rows)


async def test_a_warning_elsewhere_does_not_hold_a_campaign(service: Service, clock: ManualClock) -> None:
    approver = await _setup(service)
    clock.set(local(2027, 7, 10, 22, 0))
    from alerts.campaigns.ondemand import OnDemand, TriggerBody

    runner = CampaignRunner(service)
    outcome = await OnDemand(runner).trigger(await _campaigner(service), runner.calendar.get("heat_spell"),
                                             TriggerBody(areas=["米山镇"]), origin="test")
    await service.actions.approve(approver, outcome.draft_id, origin="test")  # type: ignore[arg-type]
    clock.set(local(2027, 7, 11, 7, 59, 30))
    await add_warning_draft(service, ["140581203"])  # 原村乡 only
    assert await runner.hold() == 0
