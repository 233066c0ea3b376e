"""config/workflow.yaml: roles, approval policies, duty roster, escalation, exercise audience."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from alerts.settings._base import Section

# Every permission the service checks. A role naming anything else is a typo caught at start-up.
PERMISSIONS: dict[str, str] = {
    "view": "see drafts, sent messages, feeds and templates",
    "approve": "approve drafts (and stop approved ones)",
    "reject": "reject pending drafts with a reason",
    "edit": "edit the texts of pending drafts",
    "compose": "write drafts by hand",
    "review_content": "review edited or unreviewed texts as an expert",
    "trigger_campaign": "start a campaign",
    "push_alerts": "push alerts through the API",
    "view_audit": "read the audit log",
    "manage_users": "add and disable users, create API tokens",
    "manage_settings": "change settings",
    # Events (alerts/events): the coordination mechanism at work.
    "manage_events": "open and close events, record an acknowledgement given by telephone",
    "work_tasks": "acknowledge and complete a department's event tasks",
    "draft_policy": "draft policy explanations (政策解读) from reviewed skeletons",
    "record_rumour": "record rumours and draft rumour responses (舆情引导)",
    "sign_off_rumour": "sign off rumour responses (宣传部)",
    # The duty officer answering a resident's call (console 号码查询); every lookup is audited.
    "lookup_phone": "look up what was sent to a phone number (numbers shown masked)",
    "view_phones": "see full phone numbers in lookups (otherwise masked)",
}

DEFAULT_ROLES: dict[str, list[str]] = {
    "approver": ["view", "approve", "reject", "lookup_phone"],
    "editor": ["view", "edit", "compose"],
    "expert": ["view", "review_content", "reject"],
    "campaigner": ["view", "trigger_campaign", "push_alerts"],
    "source": ["push_alerts"],
    "observer": ["view", "view_audit"],
    "admin": ["view", "view_audit", "manage_users", "manage_settings"],
    "coordinator": ["view", "manage_events", "work_tasks", "lookup_phone", "view_phones"],
    "department": ["view", "work_tasks", "draft_policy", "record_rumour"],
    "publicity": ["view", "sign_off_rumour", "record_rumour", "work_tasks"],
}
ESCALATION_LEVELS = ("default", "blue", "yellow", "orange", "red")


class TestAudience(Section):
    # Exercises and Test alerts reach only these numbers (the drill team), never the public.
    phones: list[str] = Field(default_factory=list)


class EscalationStep(Section):
    after_minutes: float = Field(ge=0)
    notify: Literal["primary", "backup"]  # which list of the duty roster is notified


class EscalationSection(Section):
    # Per level name (blue/yellow/orange/red, or "default"): the steps in order.
    steps: dict[str, list[EscalationStep]] = Field(default_factory=dict)
    # Channels that carry reminders to the duty approvers (each needs the user's address: sms → phone).
    channels: list[str] = Field(default_factory=lambda: ["sms"])
    # Off (null) by default: a person always approves. When set, a red warning whose texts are
    # unchanged reviewed templates is released by the system after this many minutes of waiting.
    auto_release_red_after_minutes: float | None = Field(None, gt=0)

    @field_validator("steps")
    @classmethod
    def _known_levels(cls, steps: dict[str, list[EscalationStep]]) -> dict[str, list[EscalationStep]]:
        for level, items in steps.items():
            if level not in ESCALATION_LEVELS:
                raise ValueError(f"unknown level {level!r}: expected one of {', '.join(ESCALATION_LEVELS)}")
            minutes = [s.after_minutes for s in items]
            if minutes != sorted(minutes):
                raise ValueError(f"steps for {level!r} must be in order of after_minutes, got {minutes}")
        return steps

    def steps_for(self, level: str | None) -> list[EscalationStep]:
        return self.steps.get(level or "default") or self.steps.get("default", [])


class DutyPerson(Section):
    """One approver on the duty roster: a console user, with the phone that pages them."""

    user: str
    name: str = ""
    phone: str | None = None  # used when the user has no phone on record (or does not exist yet)


class DutySection(Section):
    # User names, or {user, name, phone} entries, on duty; backups are paged when primaries are silent.
    primary: list[str | DutyPerson] = Field(default_factory=list)
    backup: list[str | DutyPerson] = Field(default_factory=list)

    def people(self, which: Literal["primary", "backup"]) -> list[DutyPerson]:
        return [p if isinstance(p, DutyPerson) else DutyPerson(user=p) for p in getattr(self, which)]


class PolicySection(Section):
    four_eyes: bool = True
    expedite_levels: list[Literal["blue", "yellow", "orange", "red"]] = Field(default_factory=lambda: ["orange", "red"])
    approvals_required: int = Field(1, ge=1, le=5)
    edited_needs_expert: bool = True


class WorkflowConfig(Section):
    roles: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ROLES))
    warning_policy: PolicySection = PolicySection()
    campaign_policy: PolicySection = PolicySection(expedite_levels=[])
    duty: DutySection = DutySection()
    escalation: EscalationSection = EscalationSection()
    test_audience: TestAudience = TestAudience()

    @model_validator(mode="after")
    def _known_permissions(self) -> WorkflowConfig:
        for role, perms in self.roles.items():
            unknown = [p for p in perms if p not in PERMISSIONS]
            if unknown:
                raise ValueError(
                    f"roles.{role}: unknown permission(s) {', '.join(map(repr, unknown))}: "
                    f"expected some of {', '.join(PERMISSIONS)}"
                )
        if not any("approve" in perms for perms in self.roles.values()):
            raise ValueError("roles: no role has the 'approve' permission, so nothing could ever be sent")
        return self
