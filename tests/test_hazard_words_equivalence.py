"""The literal-filtered word reading gives exactly what the plain regex searches gave.

`OldWords` and `old_read_words` below are the implementation before the filter (kept here as the
reference, not used by the service): every text is searched with every pattern of hazards.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.hazard_words import _BARE, _GRADE_TARGET, PRECEDENCE, TARGETED, Reading
from alerts.hazards import DEFAULT_PATH, HazardTable
from alerts.literals import SPECIAL, Scan, necessary
from alerts.model import Info, Level

TABLE = HazardTable.load(DEFAULT_PATH)
SPEC = TABLE._spec


class OldWords:
    def __init__(self, text_levels: Mapping[Level, list[str]], phrases: Mapping[str, list[str]]) -> None:
        self._levels = _old_alternation({lv.value: pats for lv, pats in text_levels.items()})
        target = {lv.value: [*pats, _BARE[lv.value], _GRADE_TARGET[lv.value]] for lv, pats in text_levels.items()}
        self._targets = _old_alternation(target)
        self._phrases = {kind: re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)
                         for kind, pats in phrases.items() if pats}

    def read(self, text: str) -> Reading:
        if not text:
            return Reading()
        named = self._all_levels(text)
        change, where = self._change(text)
        level = None
        if change in TARGETED and where is not None:
            level = self._first(self._targets, text[where:])
        if level is None and named:
            level = named[0]
        return Reading(level, change, frozenset(named))

    def _change(self, text: str) -> tuple[str | None, int | None]:
        found = {}
        for kind, pattern in self._phrases.items():
            match = pattern.search(text)
            if match is not None:
                found[kind] = match
        for kind in PRECEDENCE:
            if kind in found:
                return kind, found[kind].end()
        return None, None

    @staticmethod
    def _first(pattern, text):  # type: ignore[no-untyped-def]
        if pattern is None:
            return None
        regex, names = pattern
        match = regex.search(text)
        return names[match.lastgroup] if match and match.lastgroup else None

    def _all_levels(self, text: str) -> list[Level]:
        if self._levels is None:
            return []
        regex, names = self._levels
        return [names[m.lastgroup] for m in regex.finditer(text) if m.lastgroup]


def _old_alternation(table):  # type: ignore[no-untyped-def]
    names = {}
    parts = []
    for level, patterns in table.items():
        for pattern in patterns:
            name = f"l{len(names)}"
            names[name] = Level(level)
            parts.append(f"(?P<{name}>{pattern})")
    return (re.compile("|".join(parts), re.IGNORECASE), names) if parts else None


OLD = OldWords(SPEC.text_levels, SPEC.change_phrases)


def old_read_words(info: Info) -> Reading:
    headline, event, description = OLD.read(info.headline), OLD.read(info.event), OLD.read(info.description)
    change = headline.change or event.change or description.change
    if headline.change in ("raise", "lower", "adjust") and headline.level is not None:
        level = headline.level
    else:
        level = event.level or headline.level
    if level is None and description.change in ("raise", "lower", "adjust"):
        level = description.level
    return Reading(level, change, headline.mentioned | event.mentioned)


# Pieces of real warning texts and of every pattern's literals, mixed case, with the characters whose
# case rules differ (ſ, K, İ, ı), so the filter is tried where it could go wrong.
FRAGMENTS = [
    "将", "暴雨", "红色", "橙色", "黄色", "蓝色", "预警", "信号", "降级为", "升级为", "调整为", "继续发布",
    "解除", "取消", "撤回", "误发", "撤销", "Ⅱ级", "Ⅲ级", "级", "，", "。", "；", "[Ⅱ级/严重]",
    "upgraded", "Upgrade", "DOWNGRADED", "raised", "lowered", "reduced", "changed", "adjusted", "amended",
    " to ", "TO", "orange", "Red", "YELLOW", "blue", " warning", " Alert", "signal", "level", "Level ",
    "continues to issue", "extended", "remains in force", "remain in effect", "lifted", "cancelled",
    "terminated", "ended", "withdrawn", "issued in error", "erroneously", ".", ";", " ", "  ", "\n",
    "ſ", "\u212a", "İ", "ı", "blUE", "upgrade", "ſignal", "warnİng", "WARNıNG", "the", "of", "end",
]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=14).map("".join)


@settings(max_examples=600, deadline=None)
@given(text=texts)
def test_reading_one_text_is_unchanged(text: str) -> None:
    assert TABLE._words.read(text) == OLD.read(text)


@settings(max_examples=400, deadline=None)
@given(headline=texts, event=texts, description=texts)
def test_reading_an_info_block_is_unchanged(headline: str, event: str, description: str) -> None:
    info = Info(headline=headline, event=event, description=description)
    assert TABLE._read_words(info) == old_read_words(info)


def test_real_samples_read_the_same() -> None:
    from pathlib import Path

    from alerts.feeds.cap import Rejected, parse_alert
    for path in sorted((Path(__file__).parent / "data" / "cap").glob("*.xml")):
        try:
            alert = parse_alert(path.read_bytes())
        except Rejected:
            continue
        for info in alert.infos:
            assert TABLE._read_words(info) == old_read_words(info), path.name
            for text in (info.headline, info.event, info.description):
                assert TABLE._words.read(text) == OLD.read(text), path.name


def test_special_characters_are_the_ones_the_regex_engine_folds_to_ascii_letters() -> None:
    everything = "".join(chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000)
    assert set(re.findall("[a-z]", everything, re.IGNORECASE)) == SPECIAL


def test_necessary_literals_of_config_shapes() -> None:
    assert necessary("降级为") == (frozenset({"降级为"}),)
    assert necessary(r"\bdowngrade[ds]?\b[^.;。]*?\bto\b", re.IGNORECASE) == (
        frozenset({"downgrade"}), frozenset({"to"}))
    assert necessary(r"\b(?:lift|cancel)(?:s|ed)?\b", re.IGNORECASE) == (frozenset({"lift", "cancel"}),)
    assert necessary("Ⅲ级") == (frozenset({"级"}),)  # Ⅲ has a lower case (ⅲ): it ends a literal
    assert necessary(r"(?:a|\d)x") == (frozenset({"x"}),)  # a branch without a literal adds nothing
    assert necessary("[") == ()  # not a regex: always searched (the config check reports it)


def test_a_scan_keeps_literals_inside_longer_ones() -> None:
    scan = Scan({"a": [(frozenset({"预警"}),)], "b": [(frozenset({"解除预警"}),)], "c": [()]})
    assert scan.keys("已解除预警") == frozenset({"a", "b", "c"})
    assert scan.keys("无") == frozenset({"c"})
    assert scan.keys("ſ") is None


def test_letters_with_case_rules_of_their_own_are_still_read() -> None:
    # ſ is an s and K (Kelvin) a k to a case-insensitive regex, though lower() keeps them apart.
    for text in ("blue ſignal", "Level orange \u212a", "upgraded to red ſignal", "warnİng lifted", "ended the ſignal"):
        assert TABLE._words.read(text) == OLD.read(text)
    assert TABLE._words.read("blue ſignal").level == Level.blue
