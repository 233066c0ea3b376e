"""config/routes.yaml: the route tree: which audiences and templates each alert yields."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alerts.settings._base import Section

LevelName = Literal["blue", "yellow", "orange", "red"]
# Where a message stands in its warning's life (alerts/chain.py).
ChainStage = Literal["new", "raise", "lower", "extend", "narrow", "widen", "end", "withdraw", "expire"]
# The library's stages (templates/README.md).
TemplateStage = Literal["warning", "update", "raise", "lower", "extend", "narrow", "all_clear", "withdraw", "expiry",
                        "seasonal", "preparedness"]


class Match(Section):
    hazard: list[str] = Field(default_factory=list)  # empty: any hazard (null included only via hazard_known)
    hazard_known: bool | None = None  # true: only normalised hazards; false: only unknown ones
    level_at_least: LevelName | None = None
    level_exactly: list[LevelName] = Field(default_factory=list)
    status: list[Literal["Actual", "Exercise", "System", "Test", "Draft"]] = Field(default_factory=list)
    msg_type: list[Literal["Alert", "Update", "Cancel", "Ack", "Error"]] = Field(default_factory=list)
    stage: list[ChainStage] = Field(default_factory=list)  # the chain stage: new, raise, ..., end, withdraw
    sender: list[str] = Field(default_factory=list)  # exact sender strings, or "prefix*"
    source: list[str] = Field(default_factory=list)  # CAP <source> (the issuing system), exact or "prefix*"
    area_prefix: list[str] = Field(default_factory=list)  # geocode prefixes, e.g. "140581101"
    months: list[int] = Field(default_factory=list)  # 1..12, in Asia/Shanghai


class Yield(Section):
    audience: str
    channel: Literal["sms", "notice", "im", "voice", "email"]
    # Unset: the chain stage's own texts (warning for a new one, raise, lower, ..., all_clear, withdraw).
    # Set: always this stage's texts, e.g. `warning` for organisations' notices of the level in force.
    stage: TemplateStage = "warning"
    language: str | None = None  # default: the root `defaults.language`
    template: str | None = None  # an explicit template id; otherwise the library picks by metadata
    # Only where the library has such a text (e.g. English for the few hazards written in English);
    # a missing one is then no config error.
    optional: bool = False


class Route(Section):
    name: str
    match: Match = Match()
    yields: list[Yield] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    # Keep looking at later siblings after this route matched (Alertmanager's `continue`).
    continue_: bool = Field(False, alias="continue")


class Defaults(Section):
    """The root of the tree: what every route also requires, and what yields inherit."""

    match: Match = Match()
    language: str = "zh-CN"


class RoutesConfig(Section):
    # Exercise and Test alerts are routed like real ones but reach only the test audience.
    defaults: Defaults = Defaults()
    routes: list[Route]
