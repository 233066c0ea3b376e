"""Campaign scheduling: occurrences recorded once under (campaign, at), then drafted, deferred or missed.

APScheduler only wakes us up at the right moments; what fires is decided here from the database,
so a restart, a misfire catch-up or a second replica never fires an occurrence twice:

    due occurrence ─► claim (unique row, own transaction) ─► complete: draft | defer | fail
    found late      ─► within grace: claim + complete;  later: recorded as missed
    restart         ─► "fired" rows without a draft are completed; "deferred" rows are retried
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from alerts.campaigns import calendar as cal_mod
from alerts.campaigns import rules
from alerts.campaigns import store as occ_store
from alerts.campaigns.drafting import CampaignDrafter, Rendered, open_warnings
from alerts.campaigns.hold import HOLD_CHECK_SECONDS, hold_campaign_deliveries
from alerts.settings import ConfigError
from alerts.settings.campaigns import CampaignConfig
from alerts.workflow import audit

log = logging.getLogger("alerts.campaigns")
# The start-up catch-up waits for the first feed polls, so a warning that arrived while the
# service was down is drafted first and the campaign defers behind it.
START_DELAY_SECONDS = 60


@dataclass
class Outcome:
    occurrence_id: int
    state: str  # drafted, deferred, failed, missed, or "taken" when another worker had it
    draft_id: int | None = None
    reason: str = ""
    rendered: Rendered | None = None


@dataclass
class SweepReport:
    fired: list[Outcome] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    retried: list[Outcome] = field(default_factory=list)


class CampaignRunner:
    """Everything campaigns do against the database; driven by jobs, the API, the CLI and tests."""

    def __init__(self, service: Any, calendar: cal_mod.Calendar | None = None):
        self.service = service
        self.calendar = calendar or cal_mod.load(service.settings, service.areas, service.library)
        self.drafter = CampaignDrafter(service.areas, service.sms_rules)

    @property
    def defaults(self) -> Any:
        return self.calendar.config.defaults

    def now(self) -> datetime:
        return self.service.clock.now()

    # --- calendar occurrences ---------------------------------------------------------------

    async def run_due(self, campaign_id: str | None = None) -> SweepReport:
        """Record every occurrence due by now that is not yet recorded: fire it within grace, else missed."""
        report = SweepReport()
        now = self.now()
        async with self.service.db.read() as conn:
            installed = await _installed_at(conn)
        for c in self.calendar.campaigns:
            if campaign_id is not None and c.id != campaign_id:
                continue
            async with self.service.db.read() as conn:
                last = await occ_store.last_calendar_at(conn, c.id)
            start = now - timedelta(days=self.defaults.catch_up_days)
            if last is not None:
                start = max(start, last + timedelta(seconds=1))
            if installed is not None:
                # A fresh install has missed nothing: occurrences before the service existed are not its own.
                start = max(start, installed)
            grace = timedelta(minutes=self.calendar.config.grace_minutes(c))
            for at in rules.occurrences(c.rule, start, now + timedelta(microseconds=1)):
                if now - at <= grace:
                    async with self.service.db.write() as conn:
                        occ_id = await occ_store.claim(conn, c.id, at, state="fired", now=now)
                    if occ_id is not None:
                        report.fired.append(await self.complete(occ_id))
                else:
                    reason = (f"found {_minutes(now - at)} min after its time, beyond the grace of "
                              f"{_minutes(grace)} min (service down or busy)")
                    async with self.service.db.write() as conn:
                        occ_id = await occ_store.claim(conn, c.id, at, state="missed", now=now, reason=reason)
                        if occ_id is not None:
                            await audit.append(conn, at=now, actor="system", action="campaign.missed",
                                               target=f"campaign:{c.id}", origin="scheduler",
                                               after={"occurrence": occ_id, "at": at.isoformat(), "reason": reason})
                    if occ_id is not None:
                        log.warning("campaign %s: occurrence %s missed: %s", c.id, at.isoformat(), reason)
                        report.missed.append(occ_id)
        return report

    async def resume(self) -> list[Outcome]:
        """Finish what a crash left (fired, not drafted) and retry deferred occurrences that are due."""
        now = self.now()
        async with self.service.db.read() as conn:
            rows = await occ_store.in_states(conn, ("fired", "deferred"))
        retry = timedelta(minutes=self.defaults.retry_deferred_minutes)
        out = []
        for r in rows:
            if r.state == "deferred" and r.updated_at is not None and now - r.updated_at < retry:
                continue
            out.append(await self.complete(int(r.id)))
        return out

    async def sweep(self) -> SweepReport:
        report = await self.run_due()
        report.retried = await self.resume()
        return report

    async def hold(self) -> int:
        """Hold queued campaign messages while a warning for their areas is open (see hold.py)."""
        config = self.calendar.config

        def defers(campaign_id: str) -> bool:
            c = config.get(campaign_id)
            return config.defers(c) if c is not None else config.defaults.defer_during_warnings  # one-offs

        async with self.service.db.write() as conn:
            return await hold_campaign_deliveries(conn, self.now(), defers)

    # --- one occurrence ---------------------------------------------------------------------

    def campaign_of(self, row: Any) -> CampaignConfig | None:
        definition = (row.params or {}).get("definition")
        if definition:
            return CampaignConfig.model_validate(definition)
        return self.calendar.get(row.campaign)

    async def complete(self, occurrence_id: int) -> Outcome:
        """Draft an occurrence, or defer it behind an open warning; at most once across workers."""
        now = self.now()
        async with self.service.db.write() as conn:
            row = await occ_store.lock_for_work(conn, occurrence_id, now)
            if row is None:
                return Outcome(occurrence_id, "taken")
            campaign = self.campaign_of(row)
            if campaign is None:
                return await self._finish(conn, row, "failed", now,
                                          f"campaign {row.campaign!r} is no longer in campaigns.yaml")
            give_up = timedelta(hours=self.defaults.give_up_deferred_after_hours)
            if now - row.at > give_up:
                return await self._finish(conn, row, "missed", now,
                                          f"not drafted within {self.defaults.give_up_deferred_after_hours} h "
                                          f"of its time ({row.reason or 'interrupted'})")
            params = dict((row.params or {}).get("params") or {})
            area_codes = self.calendar.area_codes(campaign, (row.params or {}).get("areas"))
            if self.calendar.config.defers(campaign):
                conflicts = await open_warnings(conn, area_codes)
                if conflicts:
                    reason = "waiting for " + "; ".join(c.describe() for c in conflicts)
                    return await self._finish(conn, row, "deferred", now, reason)
            templates, missing = self.calendar.templates_for(campaign, row.at)
            rendered = self.drafter.render(campaign, templates, area_codes, params, now)
            if not rendered.items:
                return await self._finish(conn, row, "failed", now,
                                          "; ".join(missing + rendered.problems) or "no templates to render")
            draft_id = await self.drafter.create_draft(
                conn, occurrence_id=occurrence_id, campaign=campaign, rendered=rendered,
                created_by=row.triggered_by or "system", now=now, expires_hours=self.defaults.draft_expires_hours)
            await occ_store.set_state(conn, occurrence_id, "drafted", now=now,
                                      reason="; ".join(missing + rendered.problems))
        log.info("campaign %s: occurrence %s drafted as draft %s", campaign.id, row.at.isoformat(), draft_id)
        return Outcome(occurrence_id, "drafted", draft_id=draft_id, rendered=rendered)

    async def _finish(self, conn: Any, row: Any, state: str, now: datetime, reason: str) -> Outcome:
        if state == "deferred" and row.state == "deferred" and row.reason == reason:
            await occ_store.set_state(conn, row.id, state, now=now, reason=reason)
            return Outcome(int(row.id), state, reason=reason)  # still waiting: no new audit entry
        await occ_store.set_state(conn, row.id, state, now=now, reason=reason)
        await audit.append(conn, at=now, actor="system", action=f"campaign.{state}", target=f"campaign:{row.campaign}",
                           origin="scheduler", after={"occurrence": int(row.id), "at": row.at.isoformat(),
                                                      "reason": reason})
        (log.error if state == "failed" else log.warning)("campaign %s: occurrence %s %s: %s", row.campaign,
                                                           row.at.isoformat(), state, reason)
        return Outcome(int(row.id), state, reason=reason)

    # --- configuration ----------------------------------------------------------------------

    def reload(self) -> list[str]:
        """Re-read campaigns.yaml; on a problem keep the calendar in force and return the problems."""
        try:
            self.calendar = cal_mod.load(self.service.settings, self.service.areas, self.service.library, fresh=True)
        except ConfigError as exc:
            for line in exc.lines:
                log.error("campaigns.yaml not reloaded: %s", line)
            return exc.lines
        log.info("campaigns.yaml reloaded: %d campaigns", len(self.calendar.campaigns))
        return []


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


_RUNNERS: weakref.WeakKeyDictionary[Any, CampaignRunner] = weakref.WeakKeyDictionary()


def runner_for(service: Any) -> CampaignRunner:
    """One runner per service, shared by the background jobs and the web handlers."""
    runner = _RUNNERS.get(service)
    if runner is None:
        try:
            runner = CampaignRunner(service)
        except ConfigError as exc:
            for line in exc.lines:
                log.error("campaigns disabled until campaigns.yaml is fixed: %s", line)
            runner = CampaignRunner(service, cal_mod.Calendar(cal_mod.CampaignsFile(), service.areas,
                                                              service.library, warnings=exc.lines))
        _RUNNERS[service] = runner
    return runner


# --- APScheduler ----------------------------------------------------------------------------


class RuleTrigger(BaseTrigger):
    """An APScheduler trigger that fires exactly when a calendar rule has an occurrence."""

    def __init__(self, rule: Any):
        self.rule = rule

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        start = previous_fire_time + timedelta(seconds=1) if previous_fire_time else now
        return rules.next_after(self.rule, max(start, now))

    def __str__(self) -> str:
        return rules.describe(self.rule)


class CampaignJobs:
    """The campaign jobs of one scheduler: one per campaign plus a sweep; rebuilt on reload."""

    def __init__(self, runner: CampaignRunner, scheduler: Any):
        self.runner = runner
        self.scheduler = scheduler
        self._mtime = self._config_mtime()

    def _config_path(self) -> Path:
        return self.runner.service.settings.config_dir / cal_mod.FILENAME

    def _config_mtime(self) -> float | None:
        try:
            return self._config_path().stat().st_mtime
        except OSError:
            return None

    def install(self) -> None:
        self._add_campaign_jobs()
        self.scheduler.add_job(self.sweep, "interval", minutes=self.runner.defaults.sweep_minutes,
                               id="campaigns:sweep", max_instances=1, coalesce=True,
                               next_run_time=self.runner.now() + timedelta(seconds=START_DELAY_SECONDS))
        self.scheduler.add_job(self.hold, "interval", seconds=HOLD_CHECK_SECONDS, id="campaigns:hold",
                               max_instances=1, coalesce=True)

    def _add_campaign_jobs(self) -> None:
        for c in self.runner.calendar.campaigns:
            if c.rule is None:
                continue
            # misfire_grace_time=None: APScheduler always runs a late job; run_due decides fire or missed.
            self.scheduler.add_job(self.runner.run_due, RuleTrigger(c.rule), args=[c.id], id=f"campaign:{c.id}",
                                   name=c.name, max_instances=1, coalesce=True, misfire_grace_time=None,
                                   replace_existing=True)

    def reload(self) -> list[str]:
        problems = self.runner.reload()
        if problems:
            return problems
        for job in self.scheduler.get_jobs():
            if job.id.startswith("campaign:"):
                job.remove()
        self._add_campaign_jobs()
        return []

    async def hold(self) -> None:
        try:
            await self.runner.hold()
        except Exception:  # noqa: BLE001 - the next check tries again; the cause is logged
            log.exception("campaign hold check failed; retrying at the next check")

    async def sweep(self) -> None:
        mtime = self._config_mtime()
        if mtime != self._mtime:
            self._mtime = mtime
            self.reload()
        try:
            await self.runner.sweep()
        except Exception:  # noqa: BLE001 - the next sweep tries again; the cause is logged
            log.exception("campaign sweep failed; retrying at the next sweep")


def install(service: Any, scheduler: Any) -> CampaignJobs:
    """Add the campaign jobs to a scheduler (called from Background.start())."""
    jobs = CampaignJobs(runner_for(service), scheduler)
    jobs.install()
    return jobs


async def _installed_at(conn: Any) -> datetime | None:
    """When this service began: its first account (`make run` creates the first admin at install)."""
    from sqlalchemy import func, select

    from alerts.store.tables import users

    value = (await conn.execute(select(func.min(users.c.created_at)))).scalar()
    if isinstance(value, str):  # SQLite returns text for aggregates of timestamps
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
