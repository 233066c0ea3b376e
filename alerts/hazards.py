"""Hazard normalisation: which hazard and colour level a received warning is, from config tables."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

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
    hazards: dict[HazardKey, HazardSpec] = Field(min_length=1)


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
        self._text_levels, self._text_level_of = _text_level_regex(spec.text_levels)
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
        """A copy of the alert with hazard and level filled in every info block (None if unknown)."""
        found = [self._evidence(info) for info in alert.infos]
        # Language copies of one warning share it: an English block saying only "thunder"
        # takes the hazard its Chinese twin names, and a level the twin states outright wins
        # over a block's own CAP-severity guess, but only when the blocks do not disagree.
        hazards = {h for h, _, _ in found if h is not None}
        stated = {lv for _, lv, guessed in found if lv is not None and not guessed}
        shared_hazard = next(iter(hazards)) if len(hazards) == 1 else None
        shared_level = next(iter(stated)) if len(stated) == 1 else None
        infos = []
        for info, (hazard, level, guessed) in zip(alert.infos, found, strict=True):
            if (level is None or guessed) and shared_level is not None:
                level = shared_level
            infos.append(info.model_copy(update={"hazard": hazard or shared_hazard, "level": level}))
        return alert.model_copy(update={"infos": infos})

    def classify(self, info: Info) -> tuple[str | None, Level | None]:
        """(hazard key, level) for one info block, from the best evidence it carries."""
        hazard, level, _ = self._evidence(info)
        return hazard, level

    def _evidence(self, info: Info) -> tuple[str | None, Level | None, bool]:
        """(hazard, level, whether the level is only guessed from CAP severity)."""
        hazard, level = self._by_codes(info.event_codes)
        if hazard is None:
            hazard = (
                self._by_exact_name(c.value for c in info.event_codes)
                or self._by_name(info.event)
                or self._by_name(info.headline)
            )
        if level is None:
            level = (
                self._colour_words.get(_fold(info.severity))
                or self._level_in_text(info.event)
                or self._level_in_text(info.headline)
                or self._grade(info.headline)
            )
        if level is None:
            return hazard, self._nearest(self._cap_severity.get(info.severity.casefold()), hazard), True
        return hazard, level, False

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

    def _level_in_text(self, text: str) -> Level | None:
        if not text or self._text_levels is None:
            return None
        match = self._text_levels.search(text)
        return self._text_level_of[match.lastgroup] if match and match.lastgroup else None

    def _grade(self, text: str) -> Level | None:
        for match in _GRADE.finditer(text):
            grade, word = match["grade"], match["word"]
            if grade.isascii() and not (match["prefix"] or match["ji"] or word):
                continue  # a bare "(I)" or "(II)" is list numbering, not a warning grade
            level = self._grades.get(grade.casefold()) or (self._grades.get(word.casefold()) if word else None)
            if level is not None:
                return level
        return None

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


def _text_level_regex(table: Mapping[Level, list[str]]) -> tuple[re.Pattern[str] | None, dict[str, Level]]:
    groups: dict[str, Level] = {}
    parts = []
    for level, patterns in table.items():
        for pattern in patterns:
            name = f"l{len(groups)}"
            groups[name] = level
            parts.append(f"(?P<{name}>{pattern})")
    return (re.compile("|".join(parts), re.IGNORECASE) if parts else None), groups


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
