"""config/workflow.yaml: roles, approval policies, escalation, exercise audience."""

from __future__ import annotations

from pydantic import Field

from alerts.settings._base import Section

DEFAULT_ROLES: dict[str, list[str]] = {
    "approver": ["view", "approve", "reject"],
    "editor": ["view", "edit", "compose"],
    "expert": ["view", "review_content", "reject"],
    "campaigner": ["view", "trigger_campaign", "push_alerts"],
    "source": ["push_alerts"],
    "observer": ["view", "view_audit"],
    "admin": ["view", "view_audit", "manage_users", "manage_settings"],
}


class TestAudience(Section):
    # Exercises and Test alerts reach only these numbers (the drill team), never the public.
    phones: list[str] = Field(default_factory=list)


class EscalationStep(Section):
    after_minutes: float = Field(ge=0)
    notify: str  # a duty role name from `duty`, e.g. "primary", "backup"


class EscalationSection(Section):
    # Per level name (blue/yellow/orange/red, or "default"): the steps in order.
    steps: dict[str, list[EscalationStep]] = Field(default_factory=dict)
    auto_release_red_after_minutes: float | None = None


class DutySection(Section):
    primary: list[str] = Field(default_factory=list)  # user names on duty
    backup: list[str] = Field(default_factory=list)


class PolicySection(Section):
    four_eyes: bool = True
    expedite_levels: list[str] = Field(default_factory=lambda: ["orange", "red"])
    approvals_required: int = Field(1, ge=1, le=5)
    edited_needs_expert: bool = True


class WorkflowConfig(Section):
    roles: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ROLES))
    warning_policy: PolicySection = PolicySection()
    campaign_policy: PolicySection = PolicySection(expedite_levels=[])
    duty: DutySection = DutySection()
    escalation: EscalationSection = EscalationSection()
    test_audience: TestAudience = TestAudience()
