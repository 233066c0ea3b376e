"""Occurrences fire once: at their time, after a restart, on two replicas, or late within grace."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from alerts.app import Service
from alerts.campaigns import store as occ_store
from alerts.campaigns.scheduling import CampaignJobs, CampaignRunner, install
from alerts.clock import ManualClock
from alerts.settings import load_settings
from alerts.store import drafts as draft_store
from alerts.store.tables import campaign_occurrences, drafts

from .conftest import add_warning_draft, local


async def occurrences(svc: Service, campaign: str | None = None) -> list:
    async with svc.db.read() as conn:
        q = select(campaign_occurrences).order_by(campaign_occurrences.c.at)
        if campaign:
            q = q.where(campaign_occurrences.c.campaign == campaign)
        return list(await conn.execute(q))


async def campaign_drafts(svc: Service) -> list:
    async with svc.db.read() as conn:
        return list(await conn.execute(select(drafts).where(drafts.c.kind == "campaign").order_by(drafts.c.id)))


async def test_an_occurrence_is_recorded_then_drafted_once_through_the_campaign_policy(service: Service,
                                                                                        clock: ManualClock) -> None:
    runner = CampaignRunner(service)
    clock.set(local(2027, 6, 1, 10, 0))
    report = await runner.run_due("flood_season")
    [outcome] = report.fired
    assert outcome.state == "drafted"
    [occ] = await occurrences(service, "flood_season")
    assert occ.state == "drafted" and occ.at == local(2027, 6, 1, 10, 0) and occ.trigger == "calendar"
    async with service.db.read() as conn:
        record = await draft_store.get(conn, outcome.draft_id)
    assert record is not None
    assert record.row.kind == "campaign" and record.row.state == "pending"
    assert record.row.campaign_occurrence_id == occ.id and record.row.hazard == "flood_season"
    assert record.row.expires_at == clock.now() + timedelta(hours=48)
    [msg] = record.messages
    assert msg.template_id == "flood_season.seasonal.residents.sms" and msg.template_reviewed
    assert msg.text.startswith("汛期到了") and len(msg.areas) == 16
    assert service.policy.verdict(record.row, record.messages).policy == "campaign"
    # Running again (the job, the sweep, a misfire catch-up) records nothing new.
    clock.advance(minutes=3)
    again = await runner.run_due("flood_season")
    assert again.fired == [] and again.missed == []
    await runner.sweep()  # the sweep fires other campaigns due now (work_safety_month), not this one again
    assert len(await occurrences(service, "flood_season")) == 1
    assert len([d for d in await campaign_drafts(service) if d.hazard == "flood_season"]) == 1


async def test_a_late_run_within_grace_fires_once_and_older_ones_are_recorded_missed(service: Service,
                                                                                     clock: ManualClock) -> None:
    runner = CampaignRunner(service)
    clock.set(local(2027, 6, 1, 10, 0))
    await runner.run_due("flood_season")
    # Down from 1 June to 15 June 15:00 (the campaign runs every other Tuesday): 15 June 10:00 is five hours
    # old, beyond the 4 h grace.
    clock.set(local(2027, 6, 15, 15, 0))
    report = await runner.run_due("flood_season")
    assert report.fired == [] and len(report.missed) == 1
    # Found at 11:30 on 29 June, the 10:00 occurrence is within grace: it fires, once.
    clock.set(local(2027, 6, 29, 11, 30))
    report = await runner.run_due("flood_season")
    assert [o.state for o in report.fired] == ["drafted"] and report.missed == []
    rows = await occurrences(service, "flood_season")
    assert [(r.at, r.state) for r in rows] == [(local(2027, 6, 1, 10), "drafted"), (local(2027, 6, 15, 10), "missed"),
                                               (local(2027, 6, 29, 10), "drafted")]
    assert "beyond the grace of 240 min" in rows[1].reason
    await runner.sweep()
    assert len(await occurrences(service, "flood_season")) == 3
    assert len([d for d in await campaign_drafts(service) if d.hazard == "flood_season"]) == 2


async def test_a_restart_after_recording_but_before_drafting_completes_the_occurrence_once(
        service: Service, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.set(local(2027, 3, 23, 10, 0))
    first = CampaignRunner(service)

    async def crash(*args: object, **kwargs: object) -> int:
        raise RuntimeError("power cut while drafting")

    monkeypatch.setattr(first.drafter, "create_draft", crash)
    with pytest.raises(RuntimeError):
        await first.run_due("meteorology_day")
    [occ] = await occurrences(service, "meteorology_day")
    assert occ.state == "fired"  # recorded before anything was drafted; the drafting rolled back
    assert await campaign_drafts(service) == []
    # The restarted service (a new runner) sweeps: the recorded occurrence is completed, not re-claimed.
    clock.advance(minutes=2)
    restarted = CampaignRunner(service)
    report = await restarted.sweep()
    assert report.fired == [] and [o.state for o in report.retried] == ["drafted"]
    assert len(await campaign_drafts(service)) == 1
    again = await CampaignRunner(service).sweep()
    assert again.fired == [] and again.retried == []
    assert len(await campaign_drafts(service)) == 1


async def test_two_scheduler_instances_on_one_database_fire_once(config_dir: Path, database_url: str,
                                                                 service: Service, clock: ManualClock) -> None:
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url})
    replica = Service(settings, clock=clock)  # its own engine and pool: a second process in all but name
    try:
        a, b = CampaignRunner(service), CampaignRunner(replica)
        clock.set(local(2027, 6, 1, 10, 0, 1))  # flood_season and work_safety_month are both due
        for _ in range(3):  # the job, the sweep and a catch-up, on both replicas at once
            reports = await asyncio.gather(a.sweep(), b.sweep(), a.run_due(), b.run_due("flood_season"))
        fired = [o for r in reports for o in r.fired]
        rows = await occurrences(service)
        assert sorted(r.campaign for r in rows) == ["flood_season", "work_safety_month"]
        assert all(r.state == "drafted" for r in rows)
        found = await campaign_drafts(service)
        assert len(found) == 2 and {d.campaign_occurrence_id for d in found} == {r.id for r in rows}
        assert len([o for o in fired if o.state == "drafted"]) <= 2
        # Both also try to complete the same recorded occurrence: only one drafts it.
        async with service.db.write() as conn:
            occ_id = await occ_store.claim(conn, "meteorology_day", local(2027, 6, 1, 9), state="fired",
                                           now=clock.now())
        outcomes = await asyncio.gather(a.complete(occ_id), b.complete(occ_id))
        assert sorted(o.state for o in outcomes) == ["drafted", "taken"]
        assert len(await campaign_drafts(service)) == 3
    finally:
        await replica.close()


async def test_a_campaign_waits_while_a_warning_for_its_areas_is_open(service: Service, clock: ManualClock) -> None:
    runner = CampaignRunner(service)
    warning = await add_warning_draft(service, ["140581101"])
    clock.set(local(2027, 6, 1, 10, 0))
    report = await runner.run_due("flood_season")
    assert [o.state for o in report.fired] == ["deferred"]
    [occ] = await occurrences(service, "flood_season")
    assert occ.state == "deferred" and f"warning draft {warning}" in occ.reason
    assert await campaign_drafts(service) == []
    # Still open at the next retry: stays deferred.
    clock.advance(minutes=31)
    assert [o.state for o in await runner.resume()] == ["deferred"]
    # The warning is sent (or rejected): the next retry drafts the campaign, once.
    async with service.db.write() as conn:
        await draft_store.transition(conn, warning, "pending", "rejected", at=clock.now(), by="t", reason="test")
    clock.advance(minutes=10)
    assert await runner.resume() == []  # not yet due for a retry (30 min)
    clock.advance(minutes=21)
    assert [o.state for o in await runner.resume()] == ["drafted"]
    assert len(await campaign_drafts(service)) == 1


async def test_warnings_elsewhere_exercises_and_finished_warnings_do_not_hold_a_campaign(
        service: Service, clock: ManualClock) -> None:
    await add_warning_draft(service, ["140581101"], exercise=True)
    await add_warning_draft(service, ["140581101"], state="rejected")
    cal_runner = CampaignRunner(service)
    clock.set(local(2027, 6, 1, 10, 0))
    oneoff = cal_runner.calendar.get("flood_season").model_copy(update={"areas": ["140581203"]})
    cal_runner.calendar.config.campaigns[cal_runner.calendar.config.campaigns.index(
        cal_runner.calendar.get("flood_season"))] = oneoff
    await add_warning_draft(service, ["140581001"])  # another township
    report = await cal_runner.run_due("flood_season")
    assert [o.state for o in report.fired] == ["drafted"]


async def test_defer_during_warnings_can_be_turned_off(config_dir: Path, database_url: str, clock: ManualClock) -> None:
    path = config_dir / "campaigns.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["defaults"]["defer_during_warnings"] = False
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    from alerts.store.migrate import upgrade

    svc = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url}), clock=clock)
    await upgrade(svc.db)
    try:
        await add_warning_draft(svc, ["140581101"])
        clock.set(local(2027, 6, 1, 10, 0))
        report = await CampaignRunner(svc).run_due("flood_season")
        assert [o.state for o in report.fired] == ["drafted"]
    finally:
        await svc.close()


async def test_a_deferred_occurrence_is_given_up_as_missed_after_its_limit(service: Service, clock: ManualClock) -> None:
    runner = CampaignRunner(service)
    await add_warning_draft(service, [])
    clock.set(local(2027, 6, 1, 10, 0))
    await runner.run_due("flood_season")
    clock.advance(hours=73)
    [outcome] = await runner.resume()
    assert outcome.state == "missed" and "not drafted within 72 h" in outcome.reason
    [occ] = await occurrences(service, "flood_season")
    assert occ.state == "missed"


async def test_jobs_are_derived_from_the_config_and_rebuilt_on_reload(service: Service, clock: ManualClock) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone="Asia/Shanghai")
    jobs = install(service, scheduler)
    ids = {j.id for j in scheduler.get_jobs()}
    assert {"campaigns:sweep", "campaign:flood_season", "campaign:meteorology_day"} <= ids
    assert "campaign:heat_spell" not in ids  # on demand only: no calendar job
    path = service.settings.config_dir / "campaigns.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["campaigns"] = [c for c in doc["campaigns"] if c["id"] != "flood_season"]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert isinstance(jobs, CampaignJobs) and jobs.reload() == []
    ids = {j.id for j in scheduler.get_jobs()}
    assert "campaign:flood_season" not in ids and "campaign:meteorology_day" in ids
    # A broken file is not loaded: the calendar in force stays, and the problem is returned.
    path.write_text("campaigns: [{id: X}]", encoding="utf-8")
    problems = jobs.reload()
    assert problems and all("campaigns.yaml" in p for p in problems)
    assert "campaign:meteorology_day" in {j.id for j in scheduler.get_jobs()}


async def test_occurrence_keys_are_unique_per_campaign_and_time(service: Service, clock: ManualClock) -> None:
    async with service.db.write() as conn:
        first = await occ_store.claim(conn, "x", local(2027, 1, 1, 10), state="fired", now=clock.now())
        second = await occ_store.claim(conn, "x", local(2027, 1, 1, 10), state="fired", now=clock.now())
        other = await occ_store.claim(conn, "y", local(2027, 1, 1, 10), state="fired", now=clock.now())
    assert first is not None and second is None and other is not None
    async with service.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(campaign_occurrences))).scalar() == 2


async def test_background_start_registers_the_campaign_jobs(service: Service) -> None:
    from alerts.scheduler import Background

    background = Background(service)
    background.start()
    try:
        ids = {j.id for j in background.scheduler.get_jobs()}
        assert {"campaigns:sweep", "campaign:flood_season", "campaign:heating_season_co"} <= ids
        job = background.scheduler.get_job("campaign:fire_safety_day")
        assert job.next_run_time.month == 11 and job.next_run_time.day == 9 and job.next_run_time.hour == 10
    finally:
        await background.stop(1)
