"""Text hygiene for a received alert: every string it carries loses control, bidi and zero-width characters.

Applied once at intake (Service.receive), before the alert is normalised or stored, so no stage
downstream (drafts, the console, the public feeds) ever holds an invisible character from outside.
Free-text fields keep their line breaks; every other field is one line.
"""

from __future__ import annotations

from typing import Any

from alerts.model import Alert
from alerts.textclean import clean

# Fields whose text may span lines; the rest (identifiers, codes, names) are one line.
MULTILINE = frozenset({"description", "instruction", "note", "headline", "desc"})


def clean_alert(alert: Alert) -> Alert:
    """A copy of the alert with every string cleaned (alerts.textclean.clean)."""
    return Alert.model_validate(_clean(alert.model_dump(), None))


def _clean(value: Any, field: str | None) -> Any:
    if isinstance(value, str):
        return clean(value, one_line=field not in MULTILINE)
    if isinstance(value, dict):
        return {k: _clean(v, k if isinstance(k, str) else field) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, field) for v in value]
    if isinstance(value, tuple):
        return tuple(_clean(v, field) for v in value)
    return value
