"""Domain types shared by every stage: the normalised alert, levels, and draft states. No I/O."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Level(StrEnum):
    """Chinese warning colour levels, lowest first (Ⅳ 蓝 → Ⅰ 红)."""

    blue = "blue"
    yellow = "yellow"
    orange = "orange"
    red = "red"

    @property
    def rank(self) -> int:
        return LEVEL_ORDER.index(self)

    @property
    def zh(self) -> str:
        return LEVEL_ZH[self]


LEVEL_ORDER: list[Level] = [Level.blue, Level.yellow, Level.orange, Level.red]
LEVEL_ZH: dict[Level, str] = {
    Level.blue: "蓝色",
    Level.yellow: "黄色",
    Level.orange: "橙色",
    Level.red: "红色",
}


def level_rank(level: str | None) -> int:
    """Rank of a level name, -1 for none, so that comparisons work on optional levels."""
    if level is None:
        return -1
    return LEVEL_ORDER.index(Level(level))


class Circle(BaseModel):
    model_config = ConfigDict(frozen=True)
    lat: float
    lon: float
    radius_km: float


class Geocode(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str = ""  # CAP valueName, e.g. "CPEAS Geographic Code"; empty for bare GB/T geocodes
    value: str


class Area(BaseModel):
    desc: str = ""
    # Each polygon is a list of (lat, lon) points as CAP orders them.
    polygons: list[list[tuple[float, float]]] = Field(default_factory=list)
    circles: list[Circle] = Field(default_factory=list)
    geocodes: list[Geocode] = Field(default_factory=list)
    altitude: float | None = None
    ceiling: float | None = None


class Resource(BaseModel):
    """A CAP resource: kept as metadata, never fetched automatically."""

    desc: str = ""
    mime_type: str = ""
    uri: str = ""
    size: int | None = None
    digest: str = ""


class Info(BaseModel):
    language: str = "en-US"
    categories: list[str] = Field(default_factory=list)
    event: str = ""
    event_codes: list[Geocode] = Field(default_factory=list)  # (valueName, value) pairs
    response_types: list[str] = Field(default_factory=list)
    urgency: str = ""
    severity: str = ""  # as written in the message: a CAP word, or a colour word in the GB/T profile
    certainty: str = ""
    audience: str = ""
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str = ""
    headline: str = ""
    description: str = ""
    instruction: str = ""
    web: str = ""
    contact: str = ""
    parameters: list[Geocode] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)
    # Channel texts of the GB/T profile's code/method block, e.g. {"SMS": "..."}.
    method_texts: dict[str, str] = Field(default_factory=dict)
    # Filled by hazard normalisation: a key from config/hazards.yaml, or None if unknown.
    hazard: str | None = None
    level: Level | None = None
    # What the words say the message does to its warning: raise, lower, adjust, extend, end,
    # withdraw (None: they do not say), and why the level was chosen when the evidence disagreed.
    change: str | None = None
    level_reason: str = ""


class Alert(BaseModel):
    """One received alert message, normalised from CAP 1.0–1.2 or the Chinese national profile."""

    identifier: str
    sender: str
    sent: datetime
    status: str = "Actual"  # Actual, Exercise, System, Test, Draft
    msg_type: str = "Alert"  # Alert, Update, Cancel, Ack, Error
    source: str = ""
    scope: str = "Public"
    restriction: str = ""
    addresses: str = ""
    codes: list[str] = Field(default_factory=list)
    note: str = ""
    # Each reference is (sender, identifier, sent) as CAP writes them; sender or sent may be "".
    references: list[tuple[str, str, str]] = Field(default_factory=list)
    incidents: str = ""
    infos: list[Info] = Field(default_factory=list)
    # Which format it came in: "cap1.0", "cap1.1", "cap1.2", "gbt35965".
    format: str = ""

    @property
    def is_public_actual(self) -> bool:
        return self.status == "Actual" and self.scope == "Public"

    @property
    def is_exercise(self) -> bool:
        return self.status in ("Exercise", "Test")

    def primary_info(self, prefer: str = "zh") -> Info | None:
        """The info block to route on: the first in the preferred language, else the first."""
        for info in self.infos:
            if info.language.lower().startswith(prefer):
                return info
        return self.infos[0] if self.infos else None

    @property
    def hazard(self) -> str | None:
        info = self.primary_info()
        if info and info.hazard:
            return info.hazard
        return next((i.hazard for i in self.infos if i.hazard), None)

    @property
    def level(self) -> Level | None:
        levels = [i.level for i in self.infos if i.level is not None]
        return max(levels, key=lambda lv: lv.rank) if levels else None

    @property
    def change(self) -> str | None:
        """The change the words name (primary language first), e.g. "lower" for 降级为."""
        info = self.primary_info()
        if info and info.change:
            return info.change
        return next((i.change for i in self.infos if i.change), None)

    @property
    def level_reason(self) -> str:
        return "; ".join(dict.fromkeys(i.level_reason for i in self.infos if i.level_reason))

    @property
    def expires(self) -> datetime | None:
        times = [i.expires for i in self.infos if i.expires is not None]
        return max(times) if times else None

    def geocodes(self) -> list[str]:
        return sorted({g.value for i in self.infos for a in i.areas for g in a.geocodes})
