"""Drafting: render the routed templates for an alert into a pending draft, one group per chain.

Each stage of a warning's life (alerts/chain.py) drafts its own texts for its own recipients: a
change (raise, lower, extend, narrow) goes to the residents the chain reached before who are still
inside the area, in the stage's words; whoever is newly inside gets the current warning as a new
one; an all-clear or a withdrawal goes to everyone the chain reached. Any later message of a
chain, or a higher level for the same hazard and area, supersedes drafts still pending; an end
stops what is still queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.chain import ENDING, guess_stage, kind_for
from alerts.channels.sms.templates import params_for
from alerts.content.library import Library
from alerts.content.render import RenderError, build_context, render
from alerts.model import LEVEL_ORDER, Alert, level_rank
from alerts.routing import Plan, Planned
from alerts.store import drafts as draft_store
from alerts.store.tables import drafts, message_chains, messages
from alerts.workflow import audit

RESIDENT_AUDIENCES = ("residents", "elderly")
REACHED_DRAFT_STATES = ("dispatching", "sent", "partly_failed")


@dataclass
class DraftOutcome:
    created: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stage: str = "new"


class Drafter:
    def __init__(self, library: Library, areas: Areas, *, hazard_names: dict[str, str], issuer_default: str,
                 issuers: dict[str, str] | None = None, office_of: Callable[[Alert], str | None] | None = None,
                 advice_of: Callable[[str], str] | None = None):
        self.library = library
        self.areas = areas
        self.hazard_names = hazard_names
        self.issuer_default = issuer_default
        self.issuers = dict(issuers or {})
        # The configured office for a message's sender (chains.yaml offices); free text never stands in.
        self.office_of = office_of or (lambda _alert: None)
        # The hazard whose texts carry the advice (hazards.yaml `advice`: a landslide uses geological_hazard).
        self.advice_of = advice_of or (lambda hazard: hazard)
        self.signature = "【高平应急科普】"  # the SMS signature combined texts are measured with (service.yaml)

    def library_key(self, hazard: str | None) -> str | None:
        return self.advice_of(hazard) if hazard else None

    def office(self, alert: Alert) -> str:
        return self.office_of(alert) or self.issuers.get(alert.hazard or "", self.issuer_default)

    def render_planned(self, alert: Alert, planned: list[Planned], now: datetime, *, stage: str | None = None,
                       previous_level: str | None = None,
                       reach: list[str] | None = None) -> tuple[list[draft_store.NewMessage], list[str]]:
        items: list[draft_store.NewMessage] = []
        problems: list[str] = []
        stage = stage or guess_stage(alert)
        for i, p in enumerate(planned):
            template = self.library.get(p.template)
            info = alert.primary_info()
            context = build_context(
                alert,
                hazard_zh=self.hazard_names.get(alert.hazard or "", info.event if info else ""),
                area_phrase=self.areas.phrase(p.areas),
                area_names=self.areas.names(p.areas) or [self.areas.region_name],
                issuer_default=self.issuer_default, office=self.office(alert), previous_level=previous_level,
                stage=stage, channel=p.channel, now=now,
            )
            try:
                text = render(template, context, html=False)
            except RenderError as exc:
                problems.append(str(exc))
                continue
            items.append(
                draft_store.NewMessage(
                    route=p.route, template_id=template.id, template_hash=template.content_hash(),
                    template_reviewed=template.status == "reviewed", audience=p.audience, channel=p.channel,
                    language=p.language, areas=p.areas, text=text, params=params_for(template, context),
                    reach=reach[i] if reach else "all",
                )
            )
        return items, problems

    async def draft_for_alert(self, conn: AsyncConnection, alert: Alert, *, alert_id: int, chain_id: int,
                              plan: Plan, now: datetime, stage: str | None = None, new_plan: Plan | None = None,
                              previous_level: str | None = None,
                              left: tuple[Plan, list[str]] | None = None) -> DraftOutcome:
        """Create the draft a message calls for at its chain stage, inside the caller's write transaction.

        `plan` holds the stage's own texts; `new_plan` (for a change) the current warning as a new one,
        for residents the chain has not reached yet; `left` (for a narrowed area) the all-clear texts and
        the townships no longer inside, for the residents the chain reached there."""
        stage = stage or guess_stage(alert)
        out = DraftOutcome(problems=list(plan.problems), stage=stage)
        group_key = f"chain:{chain_id}"
        level = alert.level.value if alert.level else None
        if stage in ENDING:
            await self._withdraw_pending(conn, group_key, alert, now, out)
        else:
            await self._supersede(conn, group_key, alert, level, plan.areas, now, out, stage)

        reached = await reached_drafts(conn, group_key)
        parent = reached[-1] if reached else None
        planned: list[tuple[Planned, str]] = []
        if stage in ENDING:
            if not reached:
                return out  # nothing went out, so nothing needs an all-clear or a withdrawal
            audiences = await _audiences(conn, reached)
            # It names every township the chain covered: those a narrowed area left out hear it too.
            covered = sorted(set(plan.areas) | await _areas_reached(conn, reached))
            planned = [(replace(p, areas=covered), "chain") for p in plan.drafts if p.audience in audiences]
        elif stage == "new":
            planned = [(p, "all") for p in plan.drafts]
            parent = None
        else:
            for p in plan.drafts:
                if p.audience not in RESIDENT_AUDIENCES:
                    # Organisations re-post the notice of the level in force; a widened area only adds some.
                    planned.append((p, "new" if stage == "widen" else "all"))
                elif stage != "widen" and reached:
                    planned.append((p, "chain"))
            for p in (new_plan.drafts if new_plan is not None else []):
                if p.audience in RESIDENT_AUDIENCES:
                    planned.append((p, "new"))
            if left is not None and reached:
                # Those a narrowed area leaves out: for their townships the warning is lifted.
                left_plan, left_areas = left
                planned += [(replace(p, areas=left_areas), "left") for p in left_plan.drafts
                            if p.audience in RESIDENT_AUDIENCES and left_areas]
            out.problems.extend(x for x in (new_plan.problems if new_plan else []) if x not in out.problems)
        if not planned:
            return out
        items: list[draft_store.NewMessage] = []
        for reach in ("chain", "all", "new", "left"):
            group = [p for p, r in planned if r == reach]
            if not group:
                continue
            context_stage = {"new": "new", "left": "end"}.get(reach, stage)
            rendered, problems = self.render_planned(
                alert, group, now, stage=context_stage, previous_level=previous_level,
                reach=["chain" if reach == "left" else reach] * len(group))
            items.extend(rendered)
            out.problems.extend(problems)
        if not items:
            return out
        kind = kind_for(stage)
        draft_id = await draft_store.create(
            conn, alert_id=alert_id, kind=kind, hazard=alert.hazard, level=level, group_key=group_key,
            exercise=alert.is_exercise, created_by="system", at=now,
            # The expiry follow-up is sent after the warning's own expiry time, so it has none of its own.
            expires_at=None if stage == "expire" else alert.expires,
            items=items, parent_draft_id=parent, stage=stage,
        )
        await audit.append(conn, at=now, actor="system", action="draft.created", target=f"draft:{draft_id}",
                           origin="pipeline", after={"alert_id": alert_id, "kind": kind, "stage": stage, "level": level,
                                                     "messages": len(items), "exercise": alert.is_exercise})
        out.created.append(draft_id)
        return out

    async def _supersede(self, conn: AsyncConnection, group_key: str, alert: Alert, level: str | None,
                         areas: list[str], now: datetime, out: DraftOutcome, stage: str) -> None:
        from alerts import combine

        def outdated(d: Any, d_areas: set[str]) -> str | None:
            if d.group_key == group_key and stage != "new":
                return "a later message of its chain"
            if (d.hazard is not None and d.hazard == alert.hazard and level_rank(level) > level_rank(d.level)
                    and _overlaps(d_areas, areas)):
                return f"a higher level ({level}) for the same hazard and area"
            return None

        rank = level_rank(level)
        candidates = await draft_store.pending_for_supersede(
            conn, prefix=combine.COMBINED_PREFIX, group_key=group_key if stage != "new" else None,
            hazard=alert.hazard, lower_levels=[lv.value for lv in LEVEL_ORDER if lv.rank < rank], unlevelled=rank >= 0)
        for d in candidates:
            if str(d.group_key).startswith(combine.COMBINED_PREFIX):
                # A combined offer loses only the changed chains; the others are offered again.
                parts = {p.id: p for p in await combine.components(conn, d.id)}
                causes = {i: outdated(p.row, _areas_of(p)) for i, p in parts.items()}
                cause = next((c for c in causes.values() if c), None)
                if cause is not None:
                    hit = {i for i, c in causes.items() if c}
                    await combine.dissolve(conn, d, affected=hit, now=now,
                                           drafter=self, reason=f"superseded by {cause}: {alert.identifier}")
                    out.superseded.append(d.id)
                continue
            if not (d.group_key == group_key and stage != "new") and not (
                    d.hazard is not None and d.hazard == alert.hazard and level_rank(level) > level_rank(d.level)):
                continue  # `outdated` is None whatever its areas: not worth reading them (one query each)
            cause = outdated(d, await _draft_areas(conn, d.id))
            if cause is not None:
                if await draft_store.transition(conn, d.id, "pending", "superseded", at=now, by="system",
                                                reason=f"superseded by {cause}: {alert.identifier}"):
                    await audit.append(conn, at=now, actor="system", action="draft.superseded",
                                       target=f"draft:{d.id}", origin="pipeline", after={"by": alert.identifier})
                    out.superseded.append(d.id)

    async def _withdraw_pending(self, conn: AsyncConnection, group_key: str, alert: Alert, now: datetime,
                                out: DraftOutcome) -> None:
        for d in await draft_store.in_group(conn, group_key, ("pending",)):
            if await draft_store.transition(conn, d.id, "pending", "withdrawn", at=now, by="system",
                                            reason=f"the warning ended: {alert.identifier}"):
                await audit.append(conn, at=now, actor="system", action="draft.withdrawn", target=f"draft:{d.id}",
                                   origin="pipeline", after={"cancel": alert.identifier})
                out.withdrawn.append(d.id)
        # Drafts already dispatching: what is still queued is stopped. The draft stays dispatching
        # (part of it went out), so the all-clear below still follows it.
        from alerts.store import deliveries as delivery_store

        for d in await draft_store.in_group(conn, group_key, ("dispatching",)):
            stopped = await delivery_store.withdraw_for_draft(
                conn, d.id, now=now, reason=f"the warning ended: {alert.identifier}")
            if stopped:
                await audit.append(conn, at=now, actor="system", action="deliveries.withdrawn",
                                   target=f"draft:{d.id}", origin="pipeline",
                                   after={"cancel": alert.identifier, "stopped_deliveries": stopped})


async def reached_drafts(conn: AsyncConnection, group_key: str) -> list[int]:
    """Drafts that went out for a chain, oldest first: its own, and combined ones that spoke for it."""
    own = select(drafts.c.id).where(and_(drafts.c.group_key == group_key, drafts.c.state.in_(REACHED_DRAFT_STATES)))
    combined = (select(drafts.c.id).join(messages, messages.c.draft_id == drafts.c.id)
                .join(message_chains, message_chains.c.message_id == messages.c.id)
                .where(and_(message_chains.c.group_key == group_key, drafts.c.state.in_(REACHED_DRAFT_STATES))))
    # One statement for both (every push asks): UNION also drops a draft found both ways.
    return sorted({int(r.id) for r in await conn.execute(union(own, combined))})


async def _areas_reached(conn: AsyncConnection, draft_ids: list[int]) -> set[str]:
    rows = await conn.execute(select(messages.c.areas).where(and_(messages.c.draft_id.in_(draft_ids),
                                                                  messages.c.audience.in_(RESIDENT_AUDIENCES))))
    return {a for r in rows for a in (r.areas or [])}


async def _audiences(conn: AsyncConnection, draft_ids: list[int]) -> set[str]:
    rows = await conn.execute(select(messages.c.audience).where(messages.c.draft_id.in_(draft_ids)))
    return {r.audience for r in rows}


def _areas_of(record: draft_store.DraftRecord) -> set[str]:
    return {a for m in record.messages for a in (m.areas or [])}


async def _draft_areas(conn: AsyncConnection, draft_id: int) -> set[str]:
    record = await draft_store.get(conn, draft_id)
    return {a for m in (record.messages if record else []) for a in (m.areas or [])}


def drafter_for(settings: Any, library: Library, areas: Areas, hazards: Any) -> Drafter:
    """The drafter as the service builds it: hazard names from both vocabularies, offices from chains.yaml,
    issuers from service.yaml."""
    from alerts.content.hazards import default_hazards
    from alerts.settings.chains import chains_config, office_for

    names = {k: h.zh for k, h in default_hazards().items()}
    names.update({k: hazards.name_zh(k) for k in hazards.keys()})
    config = chains_config(settings)
    drafter = Drafter(library, areas, hazard_names=names, issuer_default=settings.service.issuer_default,
                   issuers=settings.service.issuers,
                   office_of=lambda alert: office_for(config, alert.sender, alert.identifier),
                   advice_of=hazards.advice_key)
    drafter.signature = settings.service.sms.signature
    return drafter


def _overlaps(a: set[str], b: list[str]) -> bool:
    return bool(a & set(b)) or not a or not b


def summary(outcome: DraftOutcome) -> dict[str, Any]:
    return {"created": outcome.created, "superseded": outcome.superseded, "withdrawn": outcome.withdrawn,
            "stage": outcome.stage}
