"""What a warning's words say about its level and its change, and how conflicting evidence is settled.

"将暴雨红色预警信号降级为暴雨橙色预警信号" names two colours; the level is the one it changes *to*.
`Words` reads the change phrase (升级为, 降级为, 调整为, 继续发布, 解除, 撤回, and the English of CMA's
CAP) and the target level after it. `arbitrate` settles a disagreement between the words, the
headline grade ([Ⅱ级/严重]) and the CAP severity, and says why in one sentence kept on the info.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from alerts.literals import Filter, Scan, necessary, possible
from alerts.model import Level

Change = Literal["raise", "lower", "adjust", "extend", "end", "withdraw"]
CHANGES: tuple[Change, ...] = ("raise", "lower", "adjust", "extend", "end", "withdraw")
# Phrases that name a target level after them; the others say what happens to the warning as it is.
TARGETED: tuple[Change, ...] = ("raise", "lower", "adjust")
# When a text holds several phrases, the strongest statement wins ("撤回" over "解除" over "升级为").
PRECEDENCE: tuple[Change, ...] = ("withdraw", "end", "raise", "lower", "adjust", "extend")
# After a change phrase a bare colour or grade names the target: "upgraded ... to orange", "调整为Ⅱ级".
_BARE = {"blue": r"\bblue\b", "yellow": r"\byellow\b", "orange": r"\borange\b", "red": r"\bred\b"}
_GRADE_TARGET = {"blue": "Ⅳ级", "yellow": "Ⅲ级", "orange": "Ⅱ级", "red": "Ⅰ级"}


@dataclass(frozen=True)
class Reading:
    """What one text says: the level it puts the warning at, the change it names, every level it names."""

    level: Level | None = None
    change: Change | None = None
    mentioned: frozenset[Level] = field(default_factory=frozenset)


class Words:
    """Compiled from hazards.yaml `text_levels` and `change_phrases`, once per configuration.

    Each regex carries its necessary literals (alerts/literals.py): a text lacking all of them is not
    searched, which is what most texts are for most patterns, and what made reading the words slow.
    """

    def __init__(self, text_levels: Mapping[Level, list[str]], phrases: Mapping[str, list[str]]) -> None:
        self._levels = _alternation("levels", {lv.value: pats for lv, pats in text_levels.items()})
        target = {lv.value: [*pats, _BARE[lv.value], _GRADE_TARGET[lv.value]] for lv, pats in text_levels.items()}
        self._targets = _alternation("targets", target)
        self._phrases = [(kind, re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE))
                         for kind, pats in phrases.items() if pats]
        # One Scan per configuration: which patterns a text can match at all, from their literals.
        groups: dict[str, list[Filter]] = {kind: [necessary(p, re.IGNORECASE) for p in pats]
                                           for kind, pats in phrases.items() if pats}
        groups.update({c.key: list(c.filters) for c in (self._levels, self._targets) if c is not None})
        self._scan = Scan(groups)

    def read(self, text: str, *, mentioned: bool = True, level: bool = True) -> Reading:
        """What `text` says. Without `mentioned` the reading leaves `mentioned` empty, without `level`
        also `level`: callers that do not use them skip the scans."""
        if not text:
            return Reading()
        keys = self._scan.keys(text)
        named = self._all_levels(text, keys) if mentioned else []
        change, where = self._change(text, keys)
        said = None
        if not level:
            return Reading(None, change, frozenset(named))
        if change in TARGETED and where is not None:
            after = text[where:]
            said = self._first(self._targets, after, None if keys is None else self._scan.keys(after))
        if said is None:
            # The first level the text names (the scan above found it when it ran).
            said = (named[0] if named else None) if mentioned else self._first(self._levels, text, keys)
        return Reading(said, change, frozenset(named))

    def _change(self, text: str, keys: frozenset[str] | None) -> tuple[Change | None, int | None]:
        found: dict[str, re.Match[str]] = {}
        for kind, pattern in self._phrases:
            if not possible(kind, keys):
                continue
            match = pattern.search(text)
            if match is not None:
                found[kind] = match
        for kind in PRECEDENCE:
            if kind in found:
                return kind, found[kind].end()
        return None, None

    @staticmethod
    def _first(pattern: _Compiled | None, text: str, keys: frozenset[str] | None) -> Level | None:
        if pattern is None or not possible(pattern.key, keys):
            return None
        match = pattern.regex.search(text)
        return pattern.names[match.lastgroup] if match and match.lastgroup else None

    def _all_levels(self, text: str, keys: frozenset[str] | None) -> list[Level]:
        pattern = self._levels
        if pattern is None or not possible(pattern.key, keys):
            return []
        return [pattern.names[m.lastgroup] for m in pattern.regex.finditer(text) if m.lastgroup]


@dataclass(frozen=True, slots=True)
class _Compiled:
    key: str  # its group in the Scan
    regex: re.Pattern[str]
    names: dict[str, Level]  # group name -> the level it names
    filters: tuple[Filter, ...]  # one per alternative: alerts/literals.py


def _alternation(key: str, table: Mapping[str, list[str]]) -> _Compiled | None:
    names: dict[str, Level] = {}
    parts = []
    filters = []
    for level, patterns in table.items():
        for pattern in patterns:
            name = f"l{len(names)}"
            names[name] = Level(level)
            parts.append(f"(?P<{name}>{pattern})")
            filters.append(necessary(pattern, re.IGNORECASE))
    return _Compiled(key, re.compile("|".join(parts), re.IGNORECASE), names, tuple(filters)) if parts else None


def arbitrate(words: Reading, grade: Level | None, severity: Level | None, *, grade_text: str = "",
              severity_text: str = "") -> tuple[Level | None, str]:
    """(level, reason) from the words, the headline grade and the CAP severity (already moved to a level
    the hazard has). The reason is empty when nothing disagreed."""
    said = words.level
    if said is None:
        if grade is not None and severity is not None and grade != severity:
            return grade, (f"the grade {grade_text} says {grade.value}, CAP severity {severity_text} suggests "
                           f"{severity.value}: the grade is kept (severity is coarser)")
        return grade, ""
    if (grade is None or grade == said) and (severity is None or severity == said or grade == said):
        return said, ""
    if grade is not None and grade != said:
        if grade in words.mentioned or severity == grade:
            backing = "CAP severity agrees" if severity == grade else f"the text also names {grade.value}"
            return grade, (f"the words read as {said.value} but the grade {grade_text} says {grade.value} and "
                           f"{backing}: {grade.value} is kept")
        if severity == said:
            return said, (f"the grade {grade_text} says {grade.value} but the words and CAP severity "
                          f"{severity_text} say {said.value}: {said.value} is kept")
        return grade, (f"the words say {said.value}, the grade {grade_text} says {grade.value}"
                       + (f", CAP severity {severity_text} says {severity.value}" if severity else "")
                       + ": the grade, the signal's official level, is kept")
    # No grade; the CAP severity disagrees with the words.
    assert severity is not None
    if severity in words.mentioned:
        return severity, (f"the words read as {said.value} but also name {severity.value}, which CAP severity "
                          f"{severity_text} confirms: {severity.value} is kept")
    return said, (f"CAP severity {severity_text} suggests {severity.value} but the words say {said.value}: "
                  "the words are kept (severity is coarser than the colour)")
