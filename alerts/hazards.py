"""Hazard normalisation: which hazard and colour level a received warning is, from config tables."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

from alerts.hazard_words import TARGETED, Reading, Words, arbitrate
from alerts.model import Alert, Geocode, Info, Level

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "config" / "hazards.yaml"

HazardKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]

# "[Ⅱ级/严重]", "【Ⅲ级/较重】", "[Level III/Heavy]": a numeral, optionally 级, then a word.
_GRADE = re.compile(
    r"[\[【(（]\s*(?P<prefix>(?i:level)\s*)?(?P<grade>[ⅠⅡⅢⅣ]|IV|I{1,3})\s*(?P<ji>级)?\s*"
    r"(?:/\s*(?P<word>[^\]】)）/]*?)\s*)?[\]】)）]"
)


class HazardConfigError(ValueError):
    """hazards.yaml is wrong; `lines` holds one problem each: file, key path, value, what is expected."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CodeScheme(_Strict):
    description: str = ""
    pattern: str
    value_names: list[str] = Field(default_factory=list)
    levels: dict[str, Level] = Field(default_factory=dict)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        if "type" not in compiled.groupindex:
            raise ValueError("the pattern must name the hazard part (?P<type>...)")
        return value


class HazardSpec(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)
    levels: list[Level] = Field(min_length=1)
    names: list[str] = Field(default_factory=list)
    codes: dict[str, list[str]] = Field(default_factory=dict)
    # The hazard whose reviewed advice applies when no templates are written for this one
    # (a landslide warning gets the geological-hazard texts).
    advice: str | None = None


class HazardFile(_Strict):
    version: Literal[1]
    colour_words: dict[Level, list[str]]
    text_levels: dict[Level, list[str]] = Field(default_factory=dict)
    grades: dict[str, Level] = Field(default_factory=dict)
    cap_severity: dict[str, Level] = Field(default_factory=dict)
    code_schemes: dict[str, CodeScheme] = Field(default_factory=dict)
    # Phrases saying what a message does to its warning (raise, lower, adjust, extend, end, withdraw).
    change_phrases: dict[Literal["raise", "lower", "adjust", "extend", "end", "withdraw"], list[str]] = Field(
        default_factory=dict)
    hazards: dict[HazardKey, HazardSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class _Evidence:
    hazard: str | None
    level: Level | None
    guessed: bool  # only CAP severity said it
    change: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Scheme:
    pattern: re.Pattern[str]
    value_names: frozenset[str]
    levels: dict[str, Level]
    hazards: dict[str, str]  # casefolded type -> hazard key


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


class HazardTable:
    """The hazard taxonomy loaded from hazards.yaml; `normalise` fills Info.hazard and Info.level."""

    def __init__(self, spec: HazardFile, source: str = "hazards.yaml") -> None:
        problems = _cross_check(spec, source)
        if problems:
            raise HazardConfigError(problems)
        self.source = source
        self._spec = spec
        self._schemes = [
            _Scheme(
                pattern=re.compile(scheme.pattern, re.IGNORECASE),
                value_names=frozenset(_fold(v) for v in scheme.value_names),
                levels={k.casefold(): v for k, v in scheme.levels.items()},
                hazards={
                    code.casefold(): key
                    for key, hazard in spec.hazards.items()
                    for code in hazard.codes.get(name, [])
                },
            )
            for name, scheme in spec.code_schemes.items()
        ]
        self._names = {_fold(n): key for key, hazard in spec.hazards.items() for n in _names_of(hazard)}
        self._name_search = _name_regex(self._names)
        self._colour_words = {_fold(w): level for level, words in spec.colour_words.items() for w in words}
        self._words = Words(spec.text_levels, spec.change_phrases)
        self._grades = {k.casefold(): v for k, v in spec.grades.items()}
        self._cap_severity = {k.casefold(): v for k, v in spec.cap_severity.items()}

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path = DEFAULT_PATH) -> HazardTable:
        """Read and validate a hazards.yaml; raise HazardConfigError naming every problem."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise HazardConfigError([f"{path}: cannot be read ({exc}) — it must be a UTF-8 YAML file"]) from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise HazardConfigError([f"{path}:{where}: not valid YAML ({problem}) — fix the syntax there"]) from None
        return cls.from_mapping(doc, source=str(path))

    @classmethod
    def from_mapping(cls, doc: Any, source: str = "hazards.yaml") -> HazardTable:
        """Validate an already-read document (e.g. the raw hazards.yaml settings keep)."""
        if not isinstance(doc, Mapping):
            raise HazardConfigError([f"{source}: (top level): {type(doc).__name__} — expected a mapping of keys"])
        try:
            spec = HazardFile.model_validate(doc)
        except ValidationError as err:
            raise HazardConfigError(_describe(source, err)) from None
        return cls(spec, source)

    # -- the taxonomy ----------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._spec.hazards)

    def name_zh(self, key: str) -> str:
        return self._hazard(key).zh

    def name_en(self, key: str) -> str:
        return self._hazard(key).en

    def levels(self, key: str) -> tuple[Level, ...]:
        return tuple(self._hazard(key).levels)

    def advice_key(self, key: str) -> str:
        """The hazard whose templates carry the advice for `key` (itself unless `advice` says otherwise)."""
        spec = self._spec.hazards.get(key)
        return spec.advice if spec is not None and spec.advice else key

    def _hazard(self, key: str) -> HazardSpec:
        try:
            return self._spec.hazards[key]
        except KeyError:
            raise KeyError(f"unknown hazard {key!r}; {self.source} defines: {', '.join(self._spec.hazards)}") from None

    # -- normalisation ---------------------------------------------------------------------

    def normalise(self, alert: Alert) -> Alert:
        """A copy of the alert with hazard, level, change and the level's reason in every info block."""
        found = [self._evidence(info) for info in alert.infos]
        # Language copies of one warning share it: an English block saying only "thunder"
        # takes the hazard its Chinese twin names, and a level the twin states outright wins
        # over a block's own CAP-severity guess, but only when the blocks do not disagree.
        hazards = {e.hazard for e in found if e.hazard is not None}
        stated = {e.level for e in found if e.level is not None and not e.guessed}
        changes = [e.change for e in found if e.change is not None]
        shared_hazard = next(iter(hazards)) if len(hazards) == 1 else None
        shared_level = next(iter(stated)) if len(stated) == 1 else None
        infos = []
        for info, e in zip(alert.infos, found, strict=True):
            level, reason = e.level, e.reason
            if (level is None or e.guessed) and shared_level is not None:
                if level is not None and level != shared_level:
                    reason = (f"CAP severity {info.severity} suggests {level.value}; the other language's text "
                              f"states {shared_level.value}, which is kept")
                level = shared_level
            infos.append(info.model_copy(update={"hazard": e.hazard or shared_hazard, "level": level,
                                                 "change": e.change or (changes[0] if changes else None),
                                                 "level_reason": reason}))
        return alert.model_copy(update={"infos": infos})

    def classify(self, info: Info) -> tuple[str | None, Level | None]:
        """(hazard key, level) for one info block, from the best evidence it carries."""
        e = self._evidence(info)
        return e.hazard, e.level

    def explain(self, info: Info) -> tuple[Level | None, str | None, str]:
        """(level, change the words name, why the level was chosen when evidence disagreed)."""
        e = self._evidence(info)
        return e.level, e.change, e.reason

    def _evidence(self, info: Info) -> _Evidence:
        hazard, code_level = self._by_codes(info.event_codes)
        if hazard is None:
            hazard = (
                self._by_exact_name(c.value for c in info.event_codes)
                or self._by_name(info.event)
                or self._by_name(info.headline)
            )
        words = self._read_words(info)
        colour = self._colour_words.get(_fold(info.severity))
        structured = code_level or colour
        if structured is not None:
            reason = ""
            if words.level is not None and words.level != structured:
                what = "event code" if code_level else f"severity {info.severity!r}"
                reason = (f"the words say {words.level.value}, the {what} says {structured.value}: "
                          "the structured field is kept")
            return _Evidence(hazard, structured, False, words.change, reason)
        grade, grade_text = self._grade(info.headline)
        severity = self._nearest(self._cap_severity.get(info.severity.casefold()), hazard)
        if words.level is None and grade is None:
            return _Evidence(hazard, severity, True, words.change, "")
        level, reason = arbitrate(words, grade, severity, grade_text=grade_text, severity_text=info.severity)
        return _Evidence(hazard, level, False, words.change, reason)

    def _read_words(self, info: Info) -> Reading:
        """The headline's change and target level first; the event names a level; the description
        may carry the change ("继续发布…") and, after a change phrase, the target."""
        headline = self._words.read(info.headline)
        event = self._words.read(info.event)
        change = headline.change or event.change
        if headline.change in TARGETED and headline.level is not None:
            level = headline.level
        else:
            level = event.level or headline.level
        # The description is the longest text and matters least: read only what is still open.
        if change is None or level is None:
            description = self._words.read(info.description, mentioned=False, level=False)
            change = change or description.change
            if level is None and description.change in TARGETED:
                level = self._words.read(info.description, mentioned=False).level
        return Reading(level, change, headline.mentioned | event.mentioned)

    def _by_codes(self, codes: Iterable[Geocode]) -> tuple[str | None, Level | None]:
        for code in codes:
            value = code.value.strip()
            for scheme in self._schemes:
                if scheme.value_names and _fold(code.name) not in scheme.value_names:
                    continue
                match = scheme.pattern.fullmatch(value)
                if match is None:
                    continue
                hazard = scheme.hazards.get(match["type"].casefold())
                if hazard is None:
                    continue
                level_text = match.groupdict().get("level")
                return hazard, scheme.levels.get(level_text.casefold()) if level_text else None
        return None, None

    def _by_exact_name(self, values: Iterable[str]) -> str | None:
        for value in values:
            hazard = self._names.get(_fold(value))
            if hazard:
                return hazard
        return None

    def _by_name(self, text: str) -> str | None:
        if not text:
            return None
        exact = self._names.get(_fold(text))
        if exact or self._name_search is None:
            return exact
        match = self._name_search.search(text)
        return self._names.get(_fold(match.group())) if match else None

    def _grade(self, text: str) -> tuple[Level | None, str]:
        for match in _GRADE.finditer(text):
            grade, word = match["grade"], match["word"]
            if grade.isascii() and not (match["prefix"] or match["ji"] or word):
                continue  # a bare "(I)" or "(II)" is list numbering, not a warning grade
            level = self._grades.get(grade.casefold()) or (self._grades.get(word.casefold()) if word else None)
            if level is not None:
                return level, match.group()
        return None, ""

    def _nearest(self, level: Level | None, hazard: str | None) -> Level | None:
        """CAP severity is coarse: move it to the closest level the hazard has (upwards on a tie)."""
        if level is None or hazard is None:
            return level
        available = self._spec.hazards[hazard].levels
        if level in available:
            return level
        return min(available, key=lambda lv: (abs(lv.rank - level.rank), -lv.rank))


def _names_of(hazard: HazardSpec) -> list[str]:
    return [hazard.zh, hazard.en, *hazard.names]


def _name_regex(names: Mapping[str, str]) -> re.Pattern[str] | None:
    """Leftmost match wins, and at one position the longest name ("雷雨大风" before "大风")."""
    ordered = sorted(names, key=len, reverse=True)
    latin = [re.escape(n).replace(r"\ ", r"\s+") for n in ordered if n.isascii()]
    other = [re.escape(n) for n in ordered if not n.isascii()]
    parts = []
    if latin:
        parts.append(r"\b(?:" + "|".join(latin) + r")\b")
    if other:
        parts.append("|".join(other))
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _cross_check(spec: HazardFile, source: str) -> list[str]:
    """What pydantic cannot see field by field: references between sections, duplicates."""
    problems: list[str] = []
    for level, patterns in spec.text_levels.items():
        for i, pattern in enumerate(patterns):
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                problems.append(f"{source}: text_levels.{level.value}[{i}]: {pattern!r} — not a regular expression ({exc})")
                continue
            if compiled.groupindex:
                problems.append(f"{source}: text_levels.{level.value}[{i}]: {pattern!r} — use (?:...) groups, not named ones")
    for name, scheme in spec.code_schemes.items():
        has_level = "level" in re.compile(scheme.pattern).groupindex
        if scheme.levels and not has_level:
            problems.append(f"{source}: code_schemes.{name}.pattern: {scheme.pattern!r} — "
                            "has `levels` but no (?P<level>...) group")
    for kind, patterns in spec.change_phrases.items():
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(f"{source}: change_phrases.{kind}[{i}]: {pattern!r} — not a regular expression ({exc})")
    owner_of_code: dict[tuple[str, str], str] = {}
    owner_of_name: dict[str, str] = {}
    for key, hazard in spec.hazards.items():
        for scheme_name, codes in hazard.codes.items():
            if scheme_name not in spec.code_schemes:
                problems.append(f"{source}: hazards.{key}.codes.{scheme_name}: unknown code scheme — expected one of "
                                f"{', '.join(spec.code_schemes) or '(none defined in code_schemes)'}")
                continue
            type_pattern = _type_pattern(spec.code_schemes[scheme_name].pattern)
            for i, code in enumerate(codes):
                where = f"{source}: hazards.{key}.codes.{scheme_name}[{i}]"
                other = owner_of_code.setdefault((scheme_name, code.casefold()), key)
                if other != key:
                    problems.append(f"{where}: {code!r} — already the code of hazard {other!r}; a code names one hazard")
                if type_pattern is not None and not type_pattern.fullmatch(code):
                    problems.append(f"{where}: {code!r} — does not fit the `type` part of the {scheme_name} pattern")
        if hazard.advice is not None and hazard.advice not in spec.hazards:
            problems.append(f"{source}: hazards.{key}.advice: {hazard.advice!r} — not a hazard key in this file")
        if len(set(hazard.levels)) != len(hazard.levels):
            problems.append(f"{source}: hazards.{key}.levels: {[lv.value for lv in hazard.levels]} — a level is listed twice")
        for name in _names_of(hazard):
            other = owner_of_name.setdefault(_fold(name), key)
            if other != key:
                problems.append(f"{source}: hazards.{key}: name {name!r} — already a name of hazard {other!r}")
    return problems


def _type_pattern(pattern: str) -> re.Pattern[str] | None:
    """The `type` group of a scheme pattern on its own, to check the codes listed for it."""
    match = re.search(r"\(\?P<type>((?:[^()]|\([^()]*\))*)\)", pattern)
    return re.compile(match.group(1), re.IGNORECASE) if match else None


def _describe(source: str, err: ValidationError) -> list[str]:
    lines = []
    for e in err.errors():
        path = ""
        for part in e["loc"]:
            if part == "[key]":
                path += " (the key itself)"  # pydantic's marker for a bad mapping key
            else:
                path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        path = path or "(top level)"
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: {path}: unknown key — remove it or check its spelling")
        elif e["type"] == "missing":
            lines.append(f"{source}: {path}: missing — this key is required")
        else:
            shown = repr(e.get("input"))
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {path}: {shown} — {msg[:1].lower()}{msg[1:]}")
    return lines
