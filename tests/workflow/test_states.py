"""The draft state machine: exactly the transitions of the issue, checked exhaustively and by random walks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.store.migrate import upgrade
from alerts.workflow.states import (
    FOLLOW_UP_FROM,
    TERMINAL,
    TRANSITIONS,
    DraftState,
    TransitionError,
    can_transition,
    check_transition,
    needs_reason,
)

S = DraftState
# The issue's list, written out independently of the module under test.
EXPECTED = {
    ("pending", "approved"), ("approved", "dispatching"), ("dispatching", "sent"), ("dispatching", "partly_failed"),
    ("pending", "rejected"), ("pending", "expired"), ("pending", "superseded"),
    ("approved", "withdrawn"), ("dispatching", "withdrawn"),
    # A Cancel that arrives before approval withdraws the pending draft (nothing was queued).
    ("pending", "withdrawn"),
}
states = st.sampled_from([s.value for s in DraftState])


def test_every_pair_of_states_is_allowed_exactly_when_the_issue_lists_it() -> None:
    for a in DraftState:
        for b in DraftState:
            assert can_transition(a, b) == ((a.value, b.value) in EXPECTED), (a, b)


def test_final_states_have_no_way_out_and_follow_ups_start_from_what_went_out() -> None:
    assert TERMINAL == {S.sent, S.partly_failed, S.rejected, S.expired, S.superseded, S.withdrawn}
    assert FOLLOW_UP_FROM <= {S.sent, S.partly_failed, S.dispatching}
    assert needs_reason("rejected") and needs_reason("withdrawn") and not needs_reason("approved")


@given(current=states, wanted=states)
def test_a_refused_transition_names_both_states_and_what_is_allowed(current: str, wanted: str) -> None:
    if can_transition(current, wanted):
        check_transition(current, wanted)
        return
    with pytest.raises(TransitionError) as info:
        check_transition(current, wanted)
    assert f"'{current}'" in str(info.value) and f"'{wanted}'" in str(info.value)
    for allowed in TRANSITIONS[DraftState(current)]:
        assert allowed.value in str(info.value)


@given(st.lists(states, max_size=12))
def test_any_walk_only_moves_along_listed_edges_and_stops_at_a_final_state(wanted: list[str]) -> None:
    current = "pending"
    seen = [current]
    for w in wanted:
        if can_transition(current, w):
            current = w
            seen.append(w)
    for a, b in zip(seen, seen[1:], strict=False):
        assert (a, b) in EXPECTED
    if current in TERMINAL:
        assert not any(can_transition(current, s) for s in DraftState)
    # Nothing is ever sent without passing approval and dispatch, in that order.
    if "sent" in seen or "partly_failed" in seen:
        assert seen.index("approved") < seen.index("dispatching") < len(seen) - 1


def test_every_state_is_reachable_from_pending() -> None:
    reached = {S.pending}
    frontier = [S.pending]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(DraftState)


async def _walk(url: str, wanted: list[str]) -> list[str]:
    """Apply the wanted states to a stored draft through the store's compare-and-set transition."""
    db = Database(url)
    try:
        await upgrade(db)
        at = datetime(2026, 7, 12, tzinfo=UTC)
        async with db.write() as conn:
            draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level="red",
                                                group_key="g", exercise=False, created_by="system", at=at,
                                                expires_at=at + timedelta(hours=1), items=[])
        states_seen = ["pending"]
        for w in wanted:
            async with db.write() as conn:
                record = await draft_store.get(conn, draft_id)
                assert record is not None
                try:
                    moved = await draft_store.transition(conn, draft_id, record.state, w, at=at, by="t", reason="r")
                except TransitionError:
                    moved = False
                    assert not can_transition(record.state, w)
                else:
                    assert moved and can_transition(record.state, w)
                # A stale "current" never moves the draft: the compare-and-set refuses it.
                stale = await draft_store.transition(conn, draft_id, "pending", "expired", at=at) \
                    if record.state == "pending" and moved else False
                assert not stale
            if moved:
                states_seen.append(w)
        return states_seen
    finally:
        await db.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wanted=st.lists(states, min_size=1, max_size=6))
def test_stored_drafts_follow_the_same_machine(database_url: str, wanted: list[str]) -> None:
    seen = asyncio.run(_walk(database_url, wanted))
    for a, b in zip(seen, seen[1:], strict=False):
        assert (a, b) in EXPECTED
