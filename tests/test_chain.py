"""The chain stage of a message: from its msgType, its words and what it changes (level, area)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.chain import derive_stage, guess_stage, kind_for, template_stage
from alerts.model import Alert, Info, Level

A, B, C = "140581101", "140581102", "140581103"


def alert(msg_type: str = "Update", level: str | None = "orange", change: str | None = None) -> Alert:
    info = Info(language="zh-CN", level=Level(level) if level else None, change=change)
    return Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, tzinfo=UTC), msg_type=msg_type, infos=[info])


@pytest.mark.parametrize(("now", "before", "areas_before", "areas_now", "stage"), [
    (alert("Alert"), None, [], [A], "new"),
    (alert(level="red"), alert("Alert"), [A], [A], "raise"),
    (alert(level="yellow"), alert("Alert"), [A], [A], "lower"),
    (alert(), alert("Alert"), [A, B], [A, B], "extend"),
    (alert(change="extend"), alert("Alert"), [A], [A], "extend"),
    (alert(), alert("Alert"), [A, B], [A], "narrow"),
    (alert(), alert("Alert"), [A], [A, C], "widen"),
    (alert(level="red"), alert("Alert"), [A, B], [A], "raise"),  # the level change decides; areas follow
    (alert("Cancel"), alert("Alert"), [A], [A], "end"),
    (alert("Cancel", change="withdraw"), alert("Alert"), [A], [A], "withdraw"),
    (alert(change="end"), alert("Alert"), [A], [A], "end"),  # an Update whose words say 解除
    (alert(change="withdraw"), alert("Alert"), [A], [A], "withdraw"),
    (alert(level=None, change="raise"), alert("Alert"), [A], [A], "raise"),  # no level: the words decide
    (alert(), None, [], [A], "new"),  # an Update of a message never received here
])
def test_each_stage(now: Alert, before: Alert | None, areas_before: list[str], areas_now: list[str],
                    stage: str) -> None:
    got, why = derive_stage(now, previous=before, previous_areas=areas_before, areas=areas_now)
    assert got == stage and why


def test_offline_tools_guess_the_stage_from_the_message_alone() -> None:
    assert guess_stage(alert("Alert")) == "new"
    assert guess_stage(alert("Update", change="lower")) == "lower"
    assert guess_stage(alert("Update")) == "extend"
    assert guess_stage(alert("Cancel")) == "end"
    assert guess_stage(alert("Cancel", change="withdraw")) == "withdraw"


def test_each_stage_has_its_texts_and_its_kind_of_draft() -> None:
    assert [template_stage(s) for s in ("new", "raise", "lower", "extend", "narrow", "widen", "end", "withdraw",
                                        "expire")] == ["warning", "raise", "lower", "extend", "narrow", "warning",
                                                       "all_clear", "withdraw", "expiry"]
    assert (kind_for("new"), kind_for("raise"), kind_for("end"), kind_for("withdraw")) == (
        "warning", "update", "all_clear", "all_clear")
