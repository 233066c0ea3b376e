"""The JSON API's answers as pydantic models: handlers answer through them, and the OpenAPI document is made from them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.store.problems import SEVERITIES
from alerts.workflow.states import DraftState

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
State = Literal[tuple(s.value for s in DraftState)]  # type: ignore[valid-type]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- drafts --------------------------------------------------------------------------------------


class Reach(Answer):
    """An organisation a message reaches, and through which (masked) contacts."""

    name: str
    kind: str
    area: str
    channels: list[str]


class Message(Answer):
    """One message of a draft, exactly as it is sent (SMS: with the signature)."""

    id: int
    audience: str
    channel: str
    language: str
    template: str
    template_reviewed: bool
    edited: bool
    expert_reviewed_by: str | None
    areas: list[str]
    route: str
    text: str
    characters: int
    encoding: str | None = None
    segments: int | None = None
    organisations: list[Reach] | None = None
    reach_to: str = Field("all", description="Whom of the audience it reaches: all; chain = those its warning "
                                              "chain reached before; new = those not reached yet")


class Approval(Answer):
    user: str
    role: str
    decision: str
    at: Timestamp | None
    note: str | None


class DraftSummary(Answer):
    """A draft in a list."""

    id: int
    state: State
    kind: str
    alert_id: int | None
    hazard: str | None
    level: str | None
    stage: str | None = Field(None, description="Chain stage: new, raise, lower, extend, narrow, widen, end, "
                                                  "withdraw, expiry")
    exercise: bool = Field(description="演练: test audience only")
    created_at: Timestamp
    expires_at: Timestamp | None


class Draft(Answer):
    """A draft with its messages exactly as sent, its approvals and the policy that applies."""

    id: int
    state: State
    kind: str
    alert_id: int | None
    hazard: str | None
    level: str | None
    exercise: bool
    expedited: bool
    group: str | None
    created_by: str
    last_edited_by: str | None
    created_at: Timestamp
    updated_at: Timestamp | None
    expires_at: Timestamp | None
    decided_by: str | None
    decided_at: Timestamp | None
    reason: str | None
    parent_draft_id: int | None
    policy: str | None
    stage: str | None = None
    messages: list[Message]
    approvals: list[Approval]


class DraftList(Answer):
    """Drafts: pending first, by level, then deadline."""

    drafts: list[DraftSummary]


class Pushed(Answer):
    """The pushed document was stored and routed."""

    alert_id: int | None
    duplicate: bool
    drafts: list[int]
    superseded: list[int]
    withdrawn: list[int]
    stage: str | None = Field(None, description="The chain stage this document was read as (new, raise, lower, ...)")


# --- campaigns -----------------------------------------------------------------------------------


class Campaign(Answer):
    id: str
    name: str
    theme: str
    owner: str
    enabled: bool
    rule: str
    audiences: list[str]
    next: Timestamp | None


class CampaignList(Answer):
    """The campaigns of campaigns.yaml with their next occurrence."""

    campaigns: list[Campaign]


class Occurrence(Answer):
    campaign: str
    name: str
    at: Timestamp
    rule: str
    theme: str
    owner: str
    audiences: list[str]
    areas: Literal["all"] | list[str]


class OccurrenceList(Answer):
    """The occurrences the calendar produces in the window."""

    occurrences: list[Occurrence]


class PreviewMessage(Answer):
    template_id: str
    audience: str
    channel: str
    reviewed: bool
    areas: list[str]
    text: str
    sms: str | None = Field(description="The SMS exactly as sent, with the signature")


class Preview(Answer):
    """The texts a campaign would send now; nothing is recorded."""

    campaign: str
    name: str
    messages: list[PreviewMessage]
    problems: list[str]
    deferred_by: list[str]


class Triggered(Answer):
    """201: a draft waits for approval; 202: the occurrence is recorded and waits (deferred behind a warning)."""

    campaign: str
    name: str
    occurrence_id: int | None
    state: str
    draft_id: int | None
    reason: str | None


class ReportRow(Answer):
    id: int
    at: Timestamp
    state: str
    trigger: str | None
    reason: str | None
    draft_id: int | None
    draft_state: str | None


class CampaignReport(Answer):
    """Deliveries per audience and state, and the campaign's occurrences."""

    campaign: str
    by_audience: dict[str, dict[str, int]]
    occurrences: list[ReportRow]


# --- operator problems ---------------------------------------------------------------------------


class Problem(Answer):
    """An operator problem: what happened, why, what to do."""

    id: int
    key: str
    kind: str
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    subject: str
    what: str
    why: str
    todo: str
    count: int
    opened_at: Timestamp
    updated_at: Timestamp
    resolved_at: Timestamp | None
    resolved_by: str | None


class ProblemList(Answer):
    """Open operator problems (what, why, what to do), most severe first."""

    problems: list[Problem]
