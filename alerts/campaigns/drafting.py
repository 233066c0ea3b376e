"""Campaign drafts: render a campaign's templates for its areas and parameters into a pending draft."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.channels.sms.templates import params_for
from alerts.content.library import Template
from alerts.content.render import RenderError, build_campaign_context, render
from alerts.content.sms import SmsRules, check
from alerts.settings.campaigns import CampaignConfig
from alerts.store import drafts as draft_store
from alerts.store.tables import drafts, messages
from alerts.workflow import audit

# A warning in these states is still to be sent: its advice comes before any campaign.
OPEN_WARNING_STATES = ("pending", "approved", "dispatching")


@dataclass
class Rendered:
    items: list[draft_store.NewMessage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # templates that failed to render or SMS rules broken
    areas: list[str] = field(default_factory=list)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"template_id": m.template_id, "audience": m.audience, "channel": m.channel,
                 "reviewed": m.template_reviewed, "areas": m.areas, "text": m.text} for m in self.items]


@dataclass
class Conflict:
    draft_id: int
    kind: str
    state: str
    hazard: str | None
    level: str | None

    def describe(self) -> str:
        return f"{self.kind} draft {self.draft_id} ({self.hazard or '?'} {self.level or ''}, {self.state})".replace(" ,", ",")


class CampaignDrafter:
    def __init__(self, areas: Areas, sms_rules: SmsRules):
        self.areas = areas
        self.sms_rules = sms_rules

    def render(self, campaign: CampaignConfig, templates: list[Template], area_codes: list[str],
               params: dict[str, Any], now: datetime) -> Rendered:
        out = Rendered(areas=list(area_codes))
        merged = {**campaign.params, **params}
        try:
            context = build_campaign_context(
                area_phrase=self.areas.phrase(area_codes), area_names=self.areas.names(area_codes),
                params=merged, now=now, issuer=campaign.owner)
        except ValueError as exc:
            out.problems.append(str(exc))
            return out
        for t in templates:
            try:
                text = render(t, context, html=False)
            except RenderError as exc:
                out.problems.append(str(exc))
                continue
            if t.channel == "sms":
                out.problems.extend(f"template {t.id}: {p}" for p in check(text, self.sms_rules))
            out.items.append(draft_store.NewMessage(
                route=f"campaign:{campaign.id}", template_id=t.id, template_hash=t.content_hash(),
                template_reviewed=t.status == "reviewed", audience=t.audience, channel=t.channel,
                language=t.language, areas=list(area_codes), text=text, params=params_for(t, context)))
        return out

    async def create_draft(self, conn: AsyncConnection, *, occurrence_id: int, campaign: CampaignConfig,
                           rendered: Rendered, created_by: str, now: datetime, expires_hours: int) -> int:
        draft_id = await draft_store.create(
            conn, alert_id=None, kind="campaign", hazard=campaign.theme, level=None,
            group_key=f"campaign:{campaign.id}:{occurrence_id}", exercise=False, created_by=created_by, at=now,
            expires_at=now + timedelta(hours=expires_hours), items=rendered.items,
            campaign_occurrence_id=occurrence_id)
        await audit.append(conn, at=now, actor=created_by, action="draft.created", target=f"draft:{draft_id}",
                           origin="campaigns", after={"campaign": campaign.id, "occurrence": occurrence_id,
                                                      "kind": "campaign", "messages": len(rendered.items),
                                                      "problems": rendered.problems})
        return draft_id


async def open_warnings(conn: AsyncConnection, area_codes: list[str]) -> list[Conflict]:
    """Warning and update drafts still pending or being sent that cover any of these areas."""
    rows = await conn.execute(
        select(drafts.c.id, drafts.c.kind, drafts.c.state, drafts.c.hazard, drafts.c.level, messages.c.areas)
        .select_from(drafts.outerjoin(messages, messages.c.draft_id == drafts.c.id))
        .where(and_(drafts.c.kind.in_(("warning", "update")), drafts.c.state.in_(OPEN_WARNING_STATES),
                    drafts.c.exercise.is_(False)))
        .order_by(drafts.c.id)
    )
    wanted = set(area_codes)
    found: dict[int, Conflict] = {}
    for r in rows:
        covered = set(r.areas or [])
        # A message without areas is treated as covering everything, as in drafting.
        if not covered or not wanted or covered & wanted:
            found.setdefault(r.id, Conflict(int(r.id), r.kind, r.state, r.hazard, r.level))
    return list(found.values())
