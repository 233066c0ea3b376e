"""The draft state machine: every allowed transition is listed here and nowhere else."""

from __future__ import annotations

from enum import StrEnum


class DraftState(StrEnum):
    pending = "pending"
    approved = "approved"
    dispatching = "dispatching"
    sent = "sent"
    partly_failed = "partly_failed"
    rejected = "rejected"
    expired = "expired"
    superseded = "superseded"
    withdrawn = "withdrawn"


S = DraftState

TRANSITIONS: dict[DraftState, frozenset[DraftState]] = {
    # A Cancel withdraws a pending draft; a higher level or an Update supersedes it.
    S.pending: frozenset({S.approved, S.rejected, S.expired, S.superseded, S.withdrawn}),
    S.approved: frozenset({S.dispatching, S.withdrawn}),
    S.dispatching: frozenset({S.sent, S.partly_failed, S.withdrawn}),
    # Terminal: follow-ups (all-clear, correction) are new drafts linked to these.
    S.sent: frozenset(),
    S.partly_failed: frozenset(),
    S.rejected: frozenset(),
    S.expired: frozenset(),
    S.superseded: frozenset(),
    S.withdrawn: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# States from which an all-clear or a correction may be drafted.
FOLLOW_UP_FROM = frozenset({S.sent, S.partly_failed, S.dispatching})


class TransitionError(Exception):
    """A transition the state machine does not allow (the API answers 409)."""

    def __init__(self, current: str, wanted: str):
        self.current = current
        self.wanted = wanted
        allowed = ", ".join(sorted(TRANSITIONS[DraftState(current)])) or "none (final state)"
        super().__init__(f"a draft in state '{current}' cannot become '{wanted}'; allowed from here: {allowed}")


def can_transition(current: str, wanted: str) -> bool:
    return DraftState(wanted) in TRANSITIONS[DraftState(current)]


def check_transition(current: str, wanted: str) -> None:
    if not can_transition(current, wanted):
        raise TransitionError(current, wanted)


def needs_reason(wanted: str) -> bool:
    """Rejections and withdrawals are explained, on the record."""
    return DraftState(wanted) in (S.rejected, S.withdrawn)
