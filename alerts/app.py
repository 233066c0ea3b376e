"""The composition root: builds every stage from settings and shows the whole pipeline in one place.

    receive ─► parse ─► normalise ─► lifecycle ─► route ─► draft ─► approve ─► fan-out ─► outbox ─► channel
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from alerts import lifecycle
from alerts.areas import Areas
from alerts.channels.base import Channel
from alerts.channels.registry import build_channels
from alerts.channels.sms.approval import guard_for
from alerts.clock import Clock
from alerts.content.library import Library
from alerts.content.sms import DEFAULT_BANNED_WORDS, SmsRules
from alerts.drafting import DraftOutcome, drafter_for
from alerts.feeds.cap import Rejected, parse_alert
from alerts.hazards import HazardTable
from alerts.model import Alert
from alerts.outbox.worker import Worker
from alerts.routing import Plan, build_router, stage_for
from alerts.sanitise import clean_alert
from alerts.settings import Settings
from alerts.store import feeds as feed_store
from alerts.store import inputs
from alerts.store.engine import Database
from alerts.workflow.actions import Actions
from alerts.workflow.policy import Policy

log = logging.getLogger("alerts.pipeline")


@dataclass
class Intake:
    """What happened to one received document."""

    raw_id: int | None  # None when the feed entry had been processed before
    alert_id: int | None = None
    rejected: str | None = None
    duplicate: bool = False
    drafts: DraftOutcome = field(default_factory=DraftOutcome)
    plan: Plan | None = None
    seen_before: bool = False  # a feed entry another process (or an earlier poll) already took
    refused: str | None = None  # an Update/Cancel from a source that may not act on the chain (kept as input)
    stage: str | None = None  # where the message stands in its chain (alerts/chain.py)
    event_id: int | None = None  # the event (事件) the alert opened, joined or updated


class LibraryIndex:
    """Adapts the template library to what routing asks: one template id for a situation.

    A hazard without texts of its own borrows those of its `advice` hazard (hazards.yaml).
    """

    def __init__(self, library: Library, hazards: HazardTable | None = None):
        self.library = library
        self.hazards = hazards

    def find(self, *, hazard: str | None, level: str | None, audience: str, channel: str, stage: str,
             language: str) -> str | None:
        if hazard is None:
            return None
        key = self.hazards.advice_key(hazard) if self.hazards is not None else hazard
        found = self.library.find(key, level, audience, channel, stage, language)
        return found[0].id if found else None


class Service:
    """Every component, built once from settings. Tests build it with a ManualClock."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None, db: Database | None = None):
        self.settings = settings
        self.clock = clock or Clock()
        self.db = db or Database(settings.database_url)
        cfg = settings.config_dir
        self.hazards = HazardTable.load(cfg / "hazards.yaml")
        self.areas = Areas(settings.areas)
        self.library = Library.load(settings.templates_dir)
        self.router = build_router(settings, self.library, self.hazards)
        self.sms_rules = sms_rules(settings)
        self.drafter = drafter_for(settings, self.library, self.areas, self.hazards)
        self.policy = Policy(settings.workflow)
        self.actions = Actions(self.db, self.policy, self.clock, test_phones=settings.workflow.test_audience.phones,
                               sms_rules=self.sms_rules, campaigns=settings.channels.campaigns,
                               sms_guard=guard_for(settings))
        self.channels: dict[str, Channel] = build_channels(settings, clock=self.clock)
        if "voice" in self.channels:
            self.actions.voice_min_level = settings.channels.voice.min_level
        self.worker = Worker(self.db, self.channels, settings.channels, self.clock)
        from alerts.follow import follower_for
        from alerts.settings.chains import chains_config

        self.chains = chains_config(settings)
        self.actions.warning_budget = self.chains.combine.per_resident_per_hour
        self.follower = follower_for(settings, self.router, self.drafter, self.areas)
        from alerts.capsign import SigningConfigError, load_signer
        from alerts.settings import ConfigError

        try:  # published CAP is signed when a key is configured (environment only)
            self.cap_signer = load_signer(settings.secrets.cap_signing_key, settings.secrets.cap_signing_cert)
        except SigningConfigError as exc:
            raise ConfigError([str(exc)]) from None
        # Events: department tasks, 叫应 acknowledgement, policy explanations, rumour responses.
        from alerts.events.desk import EventDesk

        self.events = EventDesk(self)

    # --- the pipeline ---------------------------------------------------------------------

    async def receive(self, data: bytes, *, source: str, origin: str = "",
                      entry: tuple[str, str] | None = None) -> Intake:
        """One document in: keep it, parse it, store the alert, route it, draft it. Never raises on bad input.

        `entry` is (feed, entry key) for documents from a feed: it is claimed in the same transaction
        that stores the document, so across replicas an entry is processed once, and a crash in
        between loses nothing (the claim rolls back with the rest).
        """
        now = self.clock.now()
        try:
            alert = self.hazards.normalise(clean_alert(parse_alert(data)))
        except Rejected as exc:
            async with self.db.write() as conn:
                if entry is not None and not await feed_store.claim_entry(conn, entry[0], entry[1], at=now):
                    return Intake(raw_id=None, seen_before=True)
                raw_id = await inputs.record(conn, data=data, source=source, origin=origin, at=now,
                                             outcome="rejected", reason=str(exc))
            log.warning("rejected input from %s (%s): %s", source, origin, exc)
            return Intake(raw_id=raw_id, rejected=str(exc))
        async with self.db.write() as conn:
            if entry is not None and not await feed_store.claim_entry(conn, entry[0], entry[1], at=now):
                return Intake(raw_id=None, seen_before=True)
            from alerts.chainauth import refusal

            refused = await refusal(conn, alert, source=source, config=self.chains)
            if refused is not None:
                raw_id = await inputs.record(conn, data=data, source=source, origin=origin, at=now,
                                             outcome="refused", reason=refused)
                log.warning("refused input from %s (%s): %s", source, origin, refused)
                return Intake(raw_id=raw_id, refused=refused)
            stored = await lifecycle.store(conn, alert, now=now)
            # Recorded once its fate is known (same transaction): one INSERT instead of INSERT + UPDATE.
            raw_id = await inputs.record(conn, data=data, source=source, origin=origin, at=now,
                                         outcome="duplicate" if stored.duplicate else "stored",
                                         alert_id=stored.alert_id)
            intake = Intake(raw_id=raw_id, alert_id=stored.alert_id, duplicate=stored.duplicate)
            if stored.duplicate or stored.cancelled_on_arrival:
                return intake
            followed = await self.follower.follow(conn, alert, stored, now=now)
            intake.plan, intake.drafts, intake.stage = followed.plan, followed.drafts, followed.stage
            if followed.combined is not None:  # offered with concurrent warnings as one combined draft
                intake.drafts.superseded.extend(intake.drafts.created)
                intake.drafts.created = [followed.combined]
            intake.event_id = await self.events.on_alert(conn, alert, alert_id=stored.alert_id,
                                                         chain_id=stored.chain_id, areas=intake.plan.areas, now=now)
        for problem in intake.drafts.problems:
            log.error("alert %s: %s", alert.identifier, problem)
        log.info("alert %s (%s %s) stored as %s; drafts %s", alert.identifier, alert.hazard, alert.level,
                 stored.alert_id, intake.drafts.created)
        return intake

    def route(self, alert: Alert) -> Plan:
        return self.router.plan(alert, stage=stage_for(alert))

    async def receive_documents(self, feed: str, documents: list[tuple[str, str, bytes]]) -> list[Intake]:
        """Documents from one source, each processed once per (feed, key) even across replicas."""
        results = []
        for key, origin, data in documents:
            intake = await self.receive(data, source=feed, origin=origin, entry=(feed, key))
            if not intake.seen_before:
                results.append(intake)
        return results

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        await self.db.close()


def sms_rules(settings: Settings) -> SmsRules:
    """The SMS rules of service.yaml; configured banned words add to the built-in list."""
    sms = settings.service.sms
    return SmsRules(signature=sms.signature, max_segments=sms.max_segments,
                    provider_max_characters=sms.max_characters,
                    banned_words=tuple(dict.fromkeys(DEFAULT_BANNED_WORDS + tuple(sms.banned_words))),
                    forbid_urls=sms.forbid_urls)

