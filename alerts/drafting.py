"""Drafting: render the routed templates for an alert into a pending draft, one group per chain.

Also applies grouping and inhibition: an Update or a higher level supersedes pending drafts of
the same chain (or the same hazard over the same areas); a Cancel withdraws what is pending
and proposes an all-clear for audiences already reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.channels.sms.templates import params_for
from alerts.content.library import Library
from alerts.content.render import RenderError, build_context, render
from alerts.model import Alert, level_rank
from alerts.routing import Plan, Planned
from alerts.store import drafts as draft_store
from alerts.workflow import audit


@dataclass
class DraftOutcome:
    created: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Drafter:
    def __init__(self, library: Library, areas: Areas, *, hazard_names: dict[str, str], issuer_default: str,
                 issuers: dict[str, str] | None = None):
        self.library = library
        self.areas = areas
        self.hazard_names = hazard_names
        self.issuer_default = issuer_default
        self.issuers = dict(issuers or {})

    def render_planned(self, alert: Alert, planned: list[Planned], now: datetime) -> tuple[list[draft_store.NewMessage], list[str]]:
        items: list[draft_store.NewMessage] = []
        problems: list[str] = []
        for p in planned:
            template = self.library.get(p.template)
            context = build_context(
                alert,
                hazard_zh=self.hazard_names.get(alert.hazard or "", alert.primary_info().event if alert.primary_info() else ""),
                area_phrase=self.areas.phrase(p.areas),
                area_names=self.areas.names(p.areas) or [self.areas.region_name],
                issuer_default=self.issuers.get(alert.hazard or "", self.issuer_default),
                now=now,
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
                )
            )
        return items, problems

    async def draft_for_alert(self, conn: AsyncConnection, alert: Alert, *, alert_id: int, chain_id: int,
                              plan: Plan, now: datetime) -> DraftOutcome:
        """Create the draft an alert calls for, inside the caller's write transaction."""
        out = DraftOutcome(problems=list(plan.problems))
        group_key = f"chain:{chain_id}"
        level = alert.level.value if alert.level else None

        if alert.msg_type == "Cancel":
            await self._withdraw_pending(conn, group_key, alert, now, out)
        else:
            await self._supersede(conn, group_key, alert, level, plan.areas, now, out)

        if alert.msg_type == "Cancel":
            reached = await draft_store.in_group(conn, group_key, ("dispatching", "sent", "partly_failed"))
            if not reached:
                return out  # nothing went out, so nothing needs an all-clear
            reached_audiences = {m.audience for d in reached for m in (await draft_store.get(conn, d.id)).messages}
            planned = [p for p in plan.drafts if p.audience in reached_audiences]
            parent = reached[-1].id
            kind = "all_clear"
        else:
            planned = plan.drafts
            parent = None
            kind = "update" if alert.msg_type == "Update" else "warning"
        if not planned:
            return out
        items, problems = self.render_planned(alert, planned, now)
        out.problems.extend(problems)
        if not items:
            return out
        draft_id = await draft_store.create(
            conn, alert_id=alert_id, kind=kind, hazard=alert.hazard, level=level, group_key=group_key,
            exercise=alert.is_exercise, created_by="system", at=now, expires_at=alert.expires,
            items=items, parent_draft_id=parent,
        )
        await audit.append(conn, at=now, actor="system", action="draft.created", target=f"draft:{draft_id}",
                           origin="pipeline", after={"alert_id": alert_id, "kind": kind, "level": level,
                                                     "messages": len(items), "exercise": alert.is_exercise})
        out.created.append(draft_id)
        return out

    async def _supersede(self, conn: AsyncConnection, group_key: str, alert: Alert, level: str | None,
                         areas: list[str], now: datetime, out: DraftOutcome) -> None:
        pending = await draft_store.by_state(conn, ("pending",))
        for d in pending:
            same_chain = d.group_key == group_key and alert.msg_type == "Update"
            higher_same_hazard = (
                d.hazard is not None and d.hazard == alert.hazard and level_rank(level) > level_rank(d.level)
                and _overlaps(await _draft_areas(conn, d.id), areas)
            )
            if same_chain or higher_same_hazard:
                cause = "an Update of its alert" if same_chain else f"a higher level ({level}) for the same hazard and area"
                if await draft_store.transition(conn, d.id, "pending", "superseded", at=now, by="system",
                                                reason=f"superseded by {cause}: {alert.identifier}"):
                    await audit.append(conn, at=now, actor="system", action="draft.superseded",
                                       target=f"draft:{d.id}", origin="pipeline", after={"by": alert.identifier})
                    out.superseded.append(d.id)

    async def _withdraw_pending(self, conn: AsyncConnection, group_key: str, alert: Alert, now: datetime,
                                out: DraftOutcome) -> None:
        for d in await draft_store.in_group(conn, group_key, ("pending",)):
            if await draft_store.transition(conn, d.id, "pending", "withdrawn", at=now, by="system",
                                            reason=f"the warning was cancelled: {alert.identifier}"):
                await audit.append(conn, at=now, actor="system", action="draft.withdrawn", target=f"draft:{d.id}",
                                   origin="pipeline", after={"cancel": alert.identifier})
                out.withdrawn.append(d.id)
        # Drafts already dispatching: what is still queued is stopped. The draft stays dispatching
        # (part of it went out), so the all-clear below still follows it.
        from alerts.store import deliveries as delivery_store

        for d in await draft_store.in_group(conn, group_key, ("dispatching",)):
            stopped = await delivery_store.withdraw_for_draft(
                conn, d.id, now=now, reason=f"the warning was cancelled: {alert.identifier}")
            if stopped:
                await audit.append(conn, at=now, actor="system", action="deliveries.withdrawn",
                                   target=f"draft:{d.id}", origin="pipeline",
                                   after={"cancel": alert.identifier, "stopped_deliveries": stopped})


async def _draft_areas(conn: AsyncConnection, draft_id: int) -> set[str]:
    record = await draft_store.get(conn, draft_id)
    return {a for m in (record.messages if record else []) for a in (m.areas or [])}


def drafter_for(settings: Any, library: Library, areas: Areas, hazards: Any) -> Drafter:
    """The drafter as the service builds it: hazard names from both vocabularies, issuers from service.yaml."""
    from alerts.content.hazards import default_hazards

    names = {k: h.zh for k, h in default_hazards().items()}
    names.update({k: hazards.name_zh(k) for k in hazards.keys()})
    return Drafter(library, areas, hazard_names=names, issuer_default=settings.service.issuer_default,
                   issuers=settings.service.issuers)


def _overlaps(a: set[str], b: list[str]) -> bool:
    return bool(a & set(b)) or not a or not b


def summary(outcome: DraftOutcome) -> dict[str, Any]:
    return {"created": outcome.created, "superseded": outcome.superseded, "withdrawn": outcome.withdrawn}
