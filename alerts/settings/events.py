"""config/events.yaml: when an event opens, and how 叫应 (acknowledgement with escalation) runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alerts.settings._base import Section

LEVELS = ("blue", "yellow", "orange", "red")
# What one escalation step does. A later channel (voice) plugs in by name in `channels`; the step
# kinds say whom to reach, the channels how.
STEP_KINDS = ("repeat", "next", "duty_office")


class OpenSection(Section):
    # A warning of this level or higher opens an event (or joins an open one of the same hazard and area).
    min_level: Literal["blue", "yellow", "orange", "red"] = "orange"
    # Emergency notices: these hazards open an event at any level, also without a colour level.
    emergency_hazards: list[str] = Field(default_factory=lambda: [
        "earthquake", "flood", "flash_flood", "geological_hazard", "landslide", "debris_flow", "forest_fire",
        "infectious_disease", "co_poisoning"])


class Step(Section):
    kind: Literal["repeat", "next", "duty_office"]
    # The first of these the service has (and the person can take) is used; "voice" is skipped
    # until a voice channel is configured.
    channels: list[str] = Field(default_factory=lambda: ["sms"], min_length=1)


class EscalationPolicy(Section):
    """One kind of acknowledgement: who is asked at which levels, how long silence is allowed, what follows."""

    levels: list[Literal["blue", "yellow", "orange", "red"]] = Field(default_factory=lambda: ["red"])
    first_channels: list[str] = Field(default_factory=lambda: ["sms"], min_length=1)
    wait_minutes: float = Field(10, gt=0, le=24 * 60)
    steps: list[Step] = Field(default_factory=lambda: [
        Step(kind="repeat", channels=["voice", "sms"]), Step(kind="next", channels=["voice", "sms"]),
        Step(kind="duty_office", channels=["voice", "sms"])])


class CalloutSection(EscalationPolicy):
    # Whose acknowledgement 叫应 asks for: levels of the responsible-persons roster, and which
    # institutions' safety officers count as responsible persons (the others give the lower-urgency
    # "已收到已张贴" of `institutions`).
    units: list[Literal["township", "village", "institution"]] = Field(
        default_factory=lambda: ["township", "village", "institution"])
    institution_kinds: list[str] = Field(default_factory=lambda: ["coal_mine", "school"])


class InstitutionsSection(EscalationPolicy):
    levels: list[Literal["blue", "yellow", "orange", "red"]] = Field(default_factory=lambda: ["orange", "red"])
    wait_minutes: float = Field(30, gt=0, le=24 * 60)
    steps: list[Step] = Field(default_factory=lambda: [Step(kind="repeat", channels=["sms"]),
                                                       Step(kind="next", channels=["sms"])])


class TasksSection(EscalationPolicy):
    # Department tasks are sent at every level that has tasks; the levels list is not used here.
    levels: list[Literal["blue", "yellow", "orange", "red"]] = Field(default_factory=lambda: list(LEVELS))
    first_channels: list[str] = Field(default_factory=lambda: ["sms", "im"], min_length=1)
    wait_minutes: float = Field(15, gt=0, le=24 * 60)
    steps: list[Step] = Field(default_factory=lambda: [Step(kind="repeat", channels=["voice", "sms"]),
                                                       Step(kind="next", channels=["sms"]),
                                                       Step(kind="duty_office", channels=["sms"])])
    # Whose on-duty officers the duty_office step of a task reaches (a key of departments.yaml).
    duty_office: str = "yjj"


class LinksSection(Section):
    # One-click acknowledgement links in IM messages (signed; no login). SMS carry none: mainland
    # carriers block URLs in notification SMS.
    valid_hours: float = Field(48, gt=0, le=24 * 14)


class EventsConfig(Section):
    open: OpenSection = OpenSection()
    callout: CalloutSection = CalloutSection()
    institutions: InstitutionsSection = InstitutionsSection()
    tasks: TasksSection = TasksSection()
    links: LinksSection = LinksSection()
    # How often the escalation job looks for due steps.
    check_every_seconds: float = Field(10, ge=1, le=300)


def events_config(settings: object) -> EventsConfig:
    """config/events.yaml, validated once (defaults when the file is absent)."""
    from alerts.settings import load_optional

    return load_optional(settings, "events.yaml", EventsConfig)  # type: ignore[arg-type]
