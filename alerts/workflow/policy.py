"""Who may decide what: role permissions, four eyes, expert review of edits, the expedited path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerts.settings.workflow import PolicySection, WorkflowConfig
from alerts.store.users import User


class Refused(Exception):
    """An action the policy does not allow; the message says why and what would allow it."""

    def __init__(self, message: str, status: int = 403):
        self.status = status
        super().__init__(message)


@dataclass
class Verdict:
    policy: str  # "warning" or "campaign"
    expedited: bool
    approvals_required: int
    needs_expert: bool
    explanation: str


class Policy:
    def __init__(self, config: WorkflowConfig):
        self.config = config

    def permissions(self, user: User) -> set[str]:
        perms: set[str] = set()
        for role in user.roles:
            perms.update(self.config.roles.get(role, []))
        return perms

    def can(self, user: User, permission: str) -> bool:
        return not user.disabled and permission in self.permissions(user)

    def require(self, user: User, permission: str) -> None:
        if not self.can(user, permission):
            roles = sorted(r for r, perms in self.config.roles.items() if permission in perms)
            raise Refused(f"'{user.name}' may not {permission.replace('_', ' ')}: it needs one of the roles {', '.join(roles)}")

    def section(self, draft: Any) -> PolicySection:
        return self.config.campaign_policy if draft.kind == "campaign" else self.config.warning_policy

    def verdict(self, draft: Any, messages: list[Any]) -> Verdict:
        sec = self.section(draft)
        changed = [m for m in messages if m.edited or not m.template_reviewed]
        needs_expert = sec.edited_needs_expert and any(not m.expert_reviewed_by for m in changed)
        expedited = (
            draft.kind in ("warning", "update") and draft.level in sec.expedite_levels and not changed
        )
        required = 1 if expedited else sec.approvals_required
        parts = [f"{'campaign' if draft.kind == 'campaign' else 'warning'} policy"]
        if expedited:
            parts.append(f"expedited: official {draft.level} warning with unchanged reviewed texts, one approver")
        else:
            parts.append(f"{required} approver(s)")
        if sec.four_eyes:
            parts.append("four eyes: the author or last editor cannot approve")
        if needs_expert:
            parts.append("edited or unreviewed text: an expert must review it first")
        return Verdict("campaign" if draft.kind == "campaign" else "warning", expedited, required, needs_expert,
                       "; ".join(parts))

    def check_approve(self, user: User, draft: Any, messages: list[Any], approvals: list[Any]) -> Verdict:
        self.require(user, "approve")
        v = self.verdict(draft, messages)
        sec = self.section(draft)
        if sec.four_eyes and user.name in (draft.created_by, draft.last_edited_by):
            raise Refused(f"four eyes: '{user.name}' created or last edited draft {draft.id}; another approver must approve it")
        if v.needs_expert:
            raise Refused(f"draft {draft.id} has edited or unreviewed text: an expert must review it before approval", 409)
        if any(a.user_name == user.name and a.decision == "approve" for a in approvals):
            raise Refused(f"'{user.name}' has already approved draft {draft.id}; it needs another approver", 409)
        return v

    def check_review(self, user: User, draft: Any) -> None:
        self.require(user, "review_content")
        if self.section(draft).four_eyes and user.name == draft.last_edited_by:
            raise Refused(f"four eyes: '{user.name}' edited draft {draft.id} and cannot also review it")
