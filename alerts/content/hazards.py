"""The content library's hazard vocabulary, read from hazards.yaml next to this module."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from alerts.model import LEVEL_ORDER

HAZARDS_FILE = Path(__file__).with_name("hazards.yaml")
KINDS = ("signal", "risk", "event", "theme")


@dataclass(frozen=True)
class Hazard:
    key: str
    zh: str
    en: str
    kind: str
    # Colour levels a CMA signal has; empty when the levels are not fixed nationally.
    levels: tuple[str, ...]

    @property
    def is_alert(self) -> bool:
        """True for hazards that arrive as alerts (and so need warning and all-clear texts)."""
        return self.kind != "theme"

    def allowed_levels(self) -> tuple[str, ...]:
        return self.levels or tuple(level.value for level in LEVEL_ORDER)


def load_hazards(path: Path = HAZARDS_FILE) -> dict[str, Hazard]:
    """Read the vocabulary; raise ValueError naming the entry when one is malformed."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    known_levels = {level.value for level in LEVEL_ORDER}
    hazards: dict[str, Hazard] = {}
    for key, entry in raw.items():
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise ValueError(f"{path}: hazard {key!r}: expected a mapping with kind one of {KINDS}")
        levels = tuple(entry.get("levels") or ())
        if not set(levels) <= known_levels:
            raise ValueError(f"{path}: hazard {key!r}: levels {levels} must be among {sorted(known_levels)}")
        hazards[key] = Hazard(key, str(entry["zh"]), str(entry["en"]), entry["kind"], levels)
    return hazards


@cache
def default_hazards() -> dict[str, Hazard]:
    return load_hazards()
