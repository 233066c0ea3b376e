"""Where a message stands in its warning's life: the chain stage, from its words, msgType and what it changes.

Stages: new (the first message), raise, lower, extend (继续/延续, the same level again), narrow and
widen (the area shrinks or grows), end (解除, an all-clear) and withdraw (撤回: the warning was
issued in error). Each stage has its own texts in the library (`TEMPLATE_STAGE`) and its own
recipients (`reach`): a change goes to those the chain reached before who are still inside the
area, an all-clear or withdrawal to everyone the chain reached, and whoever is newly inside gets
the current warning as a new one.
"""

from __future__ import annotations

from collections.abc import Iterable

from alerts.model import Alert, Level

STAGES = ("new", "raise", "lower", "extend", "narrow", "widen", "end", "withdraw", "expire")
# The library stage whose texts a chain stage uses; a widened area is news only to those newly inside.
# expire is the service's own follow-up (alerts/expiry.py) when a warning passes its expiry time
# without an all-clear and its source's convention is that expiry ends it ("到期自动解除").
TEMPLATE_STAGE = {"new": "warning", "widen": "warning", "raise": "raise", "lower": "lower", "extend": "extend",
                  "narrow": "narrow", "end": "all_clear", "withdraw": "withdraw", "expire": "expiry"}
ENDING = ("end", "withdraw", "expire")
# Drafts' kind per stage (workflow policy and the public feeds know these kinds).
KIND = {"new": "warning", "end": "all_clear", "withdraw": "all_clear", "expire": "all_clear"}
STAGE_ZH = {"new": "发布", "raise": "升级", "lower": "降级", "extend": "继续", "narrow": "范围缩小",
            "widen": "范围扩大", "end": "解除", "withdraw": "撤回", "expire": "到期自动解除"}


def kind_for(stage: str) -> str:
    return KIND.get(stage, "update")


def template_stage(stage: str) -> str:
    return TEMPLATE_STAGE[stage]


def guess_stage(alert: Alert) -> str:
    """The stage from the message alone (no chain known): what `alerts routes test` and dry runs show."""
    change = alert.change
    if alert.msg_type == "Cancel":
        return "withdraw" if change == "withdraw" else "end"
    if alert.msg_type == "Update":
        if change in ("withdraw", "end"):
            return "end" if change == "end" else "withdraw"
        return {"raise": "raise", "lower": "lower"}.get(change or "", "extend")
    return "new"


def derive_stage(alert: Alert, *, previous: Alert | None, previous_areas: Iterable[str],
                 areas: Iterable[str]) -> tuple[str, str]:
    """(stage, why) for a message given the chain's message it follows (None for a first message).

    The levels decide raise and lower when both are known (the words only when a level is missing);
    at the same level a changed area is narrow or widen, otherwise the warning is extended.
    """
    change = alert.change
    if alert.msg_type == "Cancel":
        if change == "withdraw":
            return "withdraw", "Cancel whose words say it was issued in error (撤回)"
        return "end", "Cancel: the warning ends (解除)"
    if previous is None:
        if alert.msg_type == "Update":
            return "new", "Update of a message never received here: treated as a first message"
        return "new", "first message of its chain"
    if change == "withdraw":
        return "withdraw", f"{alert.msg_type} whose words say the warning was issued in error (撤回)"
    if change == "end":
        return "end", f"{alert.msg_type} whose words end the warning (解除)"
    before, after = _rank(previous.level), _rank(alert.level)
    if before >= 0 and after >= 0 and before != after:
        stage = "raise" if after > before else "lower"
        return stage, f"level {_name(previous.level)} → {_name(alert.level)}"
    if (before < 0 or after < 0) and change in ("raise", "lower"):
        return change, f"the words say {change} (a level is missing, so the words decide)"
    old, new = set(previous_areas), set(areas)
    if new - old:
        return "widen", f"{len(new - old)} township(s) newly inside the area"
    if old - new:
        return "narrow", f"{len(old - new)} township(s) no longer inside the area"
    return "extend", "same level and area: the warning continues"


def _rank(level: Level | None) -> int:
    return level.rank if level is not None else -1


def _name(level: Level | None) -> str:
    return level.value if level is not None else "none"
