"""Necessary literals of a case-insensitive regex: a cheap, exact test that it cannot match a text.

The hazard words are regular expressions from config/hazards.yaml, searched case-insensitively in
every headline, event and description. Python's regex engine tries every alternative at every
position, so a 656-character description cost ~25 µs per pattern, and almost always for nothing:
most texts hold no change phrase at all. Every match of '降级为' contains "降级为", every match of
'\\bdowngrade[ds]?\\b[^.;。]*?\\bto\\b' contains "downgrade"; when none of a pattern's necessary
literals is a substring of the lower-cased text (one C scan each), the pattern cannot match and
the search is skipped. When one is present, the original regex decides, so outcomes never change.

The literals come from the regex parser itself (`re._parser`, the structure `re.compile` uses).
Anything the walk does not understand yields no literal, which means "always search".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from re import _constants as sre_c  # type: ignore[attr-defined]  # private, but the stdlib's own parse
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

# Characters outside ASCII that a case-insensitive regex matches to an ASCII letter although their
# lower case is not that letter (ſ ~ s, K ~ k, İ/ı ~ i). A text holding one is searched in full;
# tests/test_literals.py recomputes this set from the regex engine.
SPECIAL = frozenset("\u0130\u0131\u017f\u212a")  # İ ı ſ and the Kelvin sign K
_SPECIAL = re.compile("[" + "".join(sorted(SPECIAL)) + "]")

# A pattern's filter: clauses that every match satisfies, each a set of literals one of which the
# match contains. An empty filter knows nothing: the pattern is always searched.
Clause = frozenset[str]
Filter = tuple[Clause, ...]


class Scan:
    """Which of many filtered patterns can match a text, found in one pass over the text.

    `groups` names groups of patterns (e.g. a change kind) by their filters. `keys(text)` finds every
    position where one of the filters' literals starts (one compiled alternation, longest first, over
    the lower-cased text; a literal that is part of a longer one found at the same place is implied),
    then keeps the groups with a pattern whose clauses all hold.
    """

    def __init__(self, groups: Mapping[str, Iterable[Filter]]) -> None:
        groups = {key: list(filters) for key, filters in groups.items()}
        self._always = frozenset(key for key, filters in groups.items() if any(not f for f in filters))
        literals = sorted({lit for fs in groups.values() for f in fs for c in f for lit in c},
                          key=lambda lit: (-len(lit), lit))
        self._find = re.compile("|".join(map(re.escape, literals))) if literals else None
        self._implied = {lit: frozenset(other for other in literals if other in lit) for lit in literals}
        # A pattern is looked at only when a literal of its first clause was found.
        self._index: dict[str, list[tuple[str, Filter]]] = {}
        for key, filters in groups.items():
            for f in filters:
                for lit in f[0] if f else ():
                    self._index.setdefault(lit, []).append((key, f))

    def keys(self, text: str) -> frozenset[str] | None:
        """The groups that may match `text`; None (all may) when lower-casing would not be faithful."""
        if _SPECIAL.search(text):
            return None
        if self._find is None:
            return self._always
        low = text.lower()
        found: set[str] = set()
        pos = 0
        while (match := self._find.search(low, pos)) is not None:
            found |= self._implied[match.group()]
            pos = match.start() + 1
        keys = set(self._always)
        for lit in found:
            for key, f in self._index.get(lit, ()):
                if key not in keys and all(not clause.isdisjoint(found) for clause in f[1:]):
                    keys.add(key)
        return frozenset(keys)


def possible(key: str, keys: frozenset[str] | None) -> bool:
    """False only when no pattern of group `key` can match the text `keys` was found in."""
    return keys is None or key in keys


def necessary(pattern: str, flags: int = 0) -> Filter:
    """Clauses of lower-case literals that every match of `pattern` satisfies; () if unknown."""
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError):
        return ()
    try:
        return tuple(dict.fromkeys(_sequence(parsed.data)))
    except (ValueError, TypeError, AttributeError):  # a parser shape this walk does not know
        return ()


def _plain(char: str) -> bool:
    # ASCII (lower-cased on both sides), or uncased like 色 and Ⅲ's 级: matched only by itself.
    # A cased letter outside ASCII (Ⅲ, é) has case rules of its own and ends a literal.
    return char.isascii() or char.lower() == char == char.upper()


def _best(clauses: list[Clause]) -> Clause | None:
    """The most selective clause (longest shortest literal), to stand for a branch in an alternation."""
    return max(clauses, key=lambda c: min(map(len, c)), default=None)


def _sequence(items: Sequence[tuple[Any, Any]]) -> list[Clause]:
    """Every item of a sequence is matched, so every item's clauses hold for the whole."""
    clauses: list[Clause] = []
    run: list[str] = []
    for op, av in items:
        if op is sre_c.LITERAL and _plain(chr(av)):
            run.append(chr(av).lower())
            continue
        if run:
            clauses.append(frozenset(["".join(run)]))
            run = []
        if op is sre_c.SUBPATTERN:
            clauses.extend(_sequence(av[3].data))
        elif op is sre_c.ATOMIC_GROUP:
            clauses.extend(_sequence(av.data))
        elif op is sre_c.BRANCH:
            # One branch matched: its best clause holds, so the union of the branches' best does.
            best = [_best(_sequence(branch.data)) for branch in av[1]]
            if all(b is not None for b in best):
                clauses.append(frozenset().union(*best))  # type: ignore[arg-type]
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, sre_c.POSSESSIVE_REPEAT) and av[0] >= 1:
            clauses.extend(_sequence(av[2].data))
        # Anything else (classes, \b, optional parts, back references) adds no literal.
    if run:
        clauses.append(frozenset(["".join(run)]))
    return clauses
