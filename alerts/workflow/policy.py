"""Who may decide what: role permissions, four eyes, expert review of edits, the expedited path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerts.settings.workflow import PolicySection, WorkflowConfig
from alerts.store.users import User

# Drafts that also need a sign-off (宣传部, permission sign_off_rumour) before approval (alerts/events).
SIGN_OFF_KINDS = ("rumour_response",)


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
    explanation_zh: list[str]


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

    def roles_with(self, permission: str) -> list[str]:
        return sorted(r for r, perms in self.config.roles.items() if permission in perms)

    def require(self, user: User, permission: str) -> None:
        if not self.can(user, permission):
            raise Refused(f"'{user.name}' may not {permission.replace('_', ' ')}: "
                          f"it needs one of the roles {', '.join(self.roles_with(permission)) or '(none configured)'}")

    def section(self, draft: Any) -> PolicySection:
        return self.config.campaign_policy if draft.kind == "campaign" else self.config.warning_policy

    def verdict(self, draft: Any, messages: list[Any]) -> Verdict:
        sec = self.section(draft)
        changed = [m for m in messages if m.edited or not m.template_reviewed]
        needs_expert = sec.edited_needs_expert and any(not m.expert_reviewed_by for m in changed)
        # Only official warnings (not campaigns, all-clears or corrections) take the fast path.
        expedited = draft.kind in ("warning", "update") and draft.level in sec.expedite_levels and not changed
        required = 1 if expedited else sec.approvals_required
        name = "campaign" if draft.kind == "campaign" else "warning"
        parts = [f"{name} policy"]
        zh = ["宣传活动审批规则" if name == "campaign" else "预警科普审批规则"]
        if expedited:
            parts.append(f"expedited: official {draft.level} warning with unchanged reviewed texts, one approver")
            zh.append("快速通道：官方橙色/红色预警且内容为未改动的已审模板，一位审批人批准即可发送")
        else:
            parts.append(f"{required} approver(s)")
            zh.append(f"需要 {required} 位审批人批准")
        if sec.four_eyes:
            parts.append("four eyes: the author or last editor cannot approve")
            zh.append("双人原则：起草人或最后修改人不能批准")
        if needs_expert:
            parts.append("edited or unreviewed text: an expert must review it first")
            zh.append("内容经过修改或模板未审：须先由专家审核，再由审批人批准")
        elif changed:
            zh.append("修改后的内容已由专家审核")
        if draft.kind in SIGN_OFF_KINDS:
            zh.append("辟谣回应：专家审核后须经宣传部审签，再由审批人批准")
        return Verdict(name, expedited, required, needs_expert, "; ".join(parts), zh)

    def excluded_approvers(self, draft: Any, messages: list[Any], approvals: list[Any],
                           pushed_by: set[str] | frozenset[str] = frozenset()) -> set[str]:
        """People who may hold the approve permission but may not approve this draft."""
        out = {a.user_name for a in approvals if a.decision == "approve"}
        if self.section(draft).four_eyes:
            out.update(n for n in (draft.created_by, draft.last_edited_by) if n)
            out.update(pushed_by)
            out.update(m.expert_reviewed_by for m in messages if m.expert_reviewed_by and (m.edited or not m.template_reviewed))
        return out

    def check_approve(self, user: User, draft: Any, messages: list[Any], approvals: list[Any],
                      pushed_by: set[str] | frozenset[str] = frozenset()) -> Verdict:
        """Four eyes counts people: whoever pushed the alert, wrote, edited or reviewed the draft is
        one of the eyes already, whatever other roles they hold, and cannot also be its approver."""
        self.require(user, "approve")
        v = self.verdict(draft, messages)
        sec = self.section(draft)
        if sec.four_eyes and user.name in (draft.created_by, draft.last_edited_by):
            raise Refused(f"four eyes: '{user.name}' created or last edited draft {draft.id}; another approver must approve it")
        if sec.four_eyes and user.name in pushed_by:
            raise Refused(f"four eyes: '{user.name}' pushed the alert behind draft {draft.id}; another approver "
                          "must approve it")
        if v.needs_expert:
            raise Refused(f"draft {draft.id} has edited or unreviewed text: an expert must review it before approval", 409)
        if sec.four_eyes and any(m.expert_reviewed_by == user.name for m in messages if m.edited or not m.template_reviewed):
            raise Refused(f"four eyes: '{user.name}' reviewed the edited text of draft {draft.id} as the expert; "
                          "another person must approve it")
        if any(a.user_name == user.name and a.decision == "approve" for a in approvals):
            raise Refused(f"'{user.name}' has already approved draft {draft.id}; it needs another approver", 409)
        if draft.kind in SIGN_OFF_KINDS and not any(a.decision == "sign_off" for a in approvals):
            raise Refused(f"draft {draft.id} is a rumour response: 宣传部 must sign it off before approval", 409)
        return v

    def check_review(self, user: User, draft: Any, messages: list[Any]) -> None:
        self.require(user, "review_content")
        if self.section(draft).four_eyes and user.name == draft.last_edited_by:
            raise Refused(f"four eyes: '{user.name}' edited draft {draft.id} and cannot also review it")
        if not any(m.edited or not m.template_reviewed for m in messages):
            raise Refused(f"draft {draft.id} has only unchanged reviewed templates: there is nothing to review", 409)
        if all(m.expert_reviewed_by for m in messages if m.edited or not m.template_reviewed):
            raise Refused(f"the edited texts of draft {draft.id} are already reviewed", 409)
