"""On-demand campaigns: a campaigner triggers a configured campaign, or a one-off from reviewed templates."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts.campaigns import store as occ_store
from alerts.campaigns.calendar import select_templates
from alerts.campaigns.drafting import Conflict, Rendered, open_warnings
from alerts.campaigns.scheduling import CampaignRunner, Outcome
from alerts.clock import SHANGHAI
from alerts.content.render import format_time
from alerts.settings.campaigns import CampaignConfig
from alerts.store.users import User
from alerts.workflow import audit

PARAM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
RESERVED = ("start", "end", "start_date", "end_date", "period")


class Invalid(Exception):
    """Parameters that cannot be used; the message names the field and what to send instead."""

    def __init__(self, message: str, status: int = 422):
        self.status = status
        super().__init__(message)


class TriggerBody(BaseModel):
    """What a campaigner may pass: the spell's dates, the areas, and extra values the templates use."""

    model_config = ConfigDict(extra="forbid")
    areas: list[str] | None = Field(None, min_length=1, max_length=50)
    start: date | None = None
    end: date | None = None
    params: dict[str, str | int | float] = Field(default_factory=dict, max_length=20)
    note: str = Field("", max_length=500)

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, v in value.items():
            if not PARAM_KEY.match(key):
                raise ValueError(f"parameter name {key!r}: use lower-case letters, digits and _ (e.g. peak_temperature)")
            if key in RESERVED:
                raise ValueError(f"parameter {key!r} is set from the start/end fields; send those instead")
            if isinstance(v, str) and len(v) > 40:
                raise ValueError(f"parameter {key!r} is {len(v)} characters; at most 40 keep SMS within length")
        return value

    @model_validator(mode="after")
    def _dates(self) -> TriggerBody:
        if self.end is not None and self.start is None:
            raise ValueError("end is given without start: send both dates of the spell, or neither")
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class OneOffBody(TriggerBody):
    """A one-off campaign from existing reviewed templates."""

    name: str = Field(min_length=1, max_length=100)
    templates: list[str] = Field(min_length=1, max_length=10)


def template_params(body: TriggerBody) -> dict[str, Any]:
    """The values templates see as params.*: the body's own, plus the spell's dates in Chinese."""
    params: dict[str, Any] = dict(body.params)
    if body.start:
        params["start_date"] = body.start.isoformat()
        params["start"] = _day(body.start)
        params["period"] = params["start"]
    if body.end:
        params["end_date"] = body.end.isoformat()
        params["end"] = _day(body.end)
        params["period"] = f"{params['start']}至{params['end']}"
    return params


def _day(d: date) -> str:
    return format_time(datetime(d.year, d.month, d.day, tzinfo=SHANGHAI)).split("日")[0] + "日"


class OnDemand:
    def __init__(self, runner: CampaignRunner):
        self.runner = runner

    def check_body(self, body: TriggerBody, now: datetime) -> None:
        areas = self.runner.calendar.areas
        for i, a in enumerate(body.areas or []):
            if areas.code_for(a) is None:
                known = "、".join(t.name for t in areas.townships.values())
                raise Invalid(f"areas[{i}]: {a!r} is not a township of {areas.region_name}; use a code or one of {known}")
        today = now.astimezone(SHANGHAI).date()
        if body.start and body.start < today:
            raise Invalid(f"start: {body.start} is in the past (today is {today}); campaigns announce what is coming")

    def one_off_campaign(self, user: User, body: OneOffBody) -> CampaignConfig:
        library = self.runner.calendar.library
        chosen, missing = select_templates(library, "", "seasonal", [], [], body.templates)
        if missing:
            raise Invalid("templates: " + "; ".join(missing))
        for t in chosen:
            if t.stage not in ("seasonal", "preparedness"):
                raise Invalid(f"templates: {t.id} has stage {t.stage}; one-off campaigns use seasonal or "
                              "preparedness templates")
            if t.status != "reviewed":
                raise Invalid(f"templates: {t.id} is {t.status}; only reviewed templates may be used (have it "
                              "reviewed first)")
        return CampaignConfig(
            id=f"oneoff_{secrets.token_hex(5)}", name=body.name, theme=chosen[0].hazard, owner=user.name,
            audiences=sorted({t.audience for t in chosen}), channels=sorted({t.channel for t in chosen}),  # type: ignore[arg-type]
            stage=chosen[0].stage,  # type: ignore[arg-type]
            templates=[t.id for t in chosen], areas="all")

    async def preview(self, campaign: CampaignConfig, body: TriggerBody) -> tuple[Rendered, list[Conflict]]:
        now = self.runner.now()
        self.check_body(body, now)
        cal = self.runner.calendar
        area_codes = cal.area_codes(campaign, body.areas)
        templates, missing = select_templates(cal.library, campaign.theme, campaign.stage, campaign.audiences,
                                              campaign.channels, campaign.templates)
        rendered = self.runner.drafter.render(campaign, templates, area_codes, template_params(body), now)
        rendered.problems = missing + rendered.problems
        async with self.runner.service.db.read() as conn:
            conflicts = await open_warnings(conn, area_codes) if cal.config.defers(campaign) else []
        return rendered, conflicts

    async def trigger(self, user: User, campaign: CampaignConfig, body: TriggerBody, *, origin: str,
                      one_off: bool = False) -> Outcome:
        rendered, _ = await self.preview(campaign, body)
        if rendered.problems or not rendered.items:
            raise Invalid("the texts cannot be sent with these parameters: "
                          + ("; ".join(rendered.problems) or "no templates to render"))
        now = self.runner.now()
        stored = {"params": template_params(body), "areas": body.areas, "note": body.note,
                  "definition": campaign.model_dump() if one_off else None}
        async with self.runner.service.db.write() as conn:
            occ_id = await occ_store.claim(conn, campaign.id, now, state="fired", now=now, trigger="manual",
                                           by=user.name, params=stored)
            if occ_id is None:
                raise Invalid(f"campaign {campaign.id} was triggered at this same moment already", 409)
            await audit.append(conn, at=now, actor=user.name, action="campaign.triggered",
                               target=f"campaign:{campaign.id}", origin=origin,
                               after={"occurrence": occ_id, "one_off": one_off, **stored})
        return await self.runner.complete(occ_id)
