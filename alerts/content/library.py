"""The reviewed template library: load and validate YAML templates, hash them, stamp reviews."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from alerts.content.hazards import Hazard, default_hazards

LEVELS = ("blue", "yellow", "orange", "red")
AUDIENCES = ("residents", "communities", "villages", "schools", "enterprises", "elderly", "families", "volunteers",
             "media")
CHANNELS = ("sms", "notice", "im", "voice")
LANGUAGES = ("zh-CN", "en")
# Alert stages follow a warning's life (alerts/chain.py): warning (发布), raise (升级), lower (降级),
# extend (继续), narrow (范围缩小), all_clear (解除), withdraw (撤回), expiry (到期自动解除); update is a generic change text
# kept for older libraries. brief is one line of advice a combined message quotes (alerts/combine.py).
# seasonal and preparedness are campaign texts; recovery is the after-disaster advice (returning home, food and
# water, mould, injuries, mental health) an on-demand campaign sends once a warning has ended.
STAGES = ("warning", "update", "raise", "lower", "extend", "narrow", "all_clear", "withdraw", "expiry", "brief",
          "seasonal", "preparedness", "recovery")
REQUIRED_KEYS = ("id", "hazard", "levels", "audience", "channel", "language", "stage", "version", "title", "text")
TEMPLATE_KEYS = (*REQUIRED_KEYS, "review")
REVIEW_KEYS = ("reviewed_by", "approved_by", "at", "hash")
ID_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")
HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")


class LibraryError(Exception):
    """Problems found while loading templates; str() gives one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Review:
    reviewed_by: str
    approved_by: str
    at: datetime
    hash: str


@dataclass(frozen=True)
class Template:
    id: str
    hazard: str
    levels: tuple[str, ...]
    audience: str
    channel: str
    language: str
    stage: str
    version: int
    title: str
    text: str
    review: Review | None
    path: Path

    def content_hash(self) -> str:
        """sha256 over the text and the metadata a reviewer signs off; the review block is excluded."""
        canonical = {
            "id": self.id,
            "hazard": self.hazard,
            # Order of levels carries no meaning, so it must not change the hash.
            "levels": sorted(self.levels, key=LEVELS.index),
            "audience": self.audience,
            "channel": self.channel,
            "language": self.language,
            "stage": self.stage,
            "version": self.version,
            # The title is shown to readers of notices, so a retitled template needs review too.
            "title": self.title,
            "text": self.text,
        }
        blob = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def status(self) -> str:
        """'reviewed', 'changed' (edited since its review) or 'unreviewed'."""
        if self.review is None:
            return "unreviewed"
        return "reviewed" if self.review.hash == self.content_hash() else "changed"

    def matches_level(self, level: str | None) -> bool:
        if not self.levels:
            return True
        return level in self.levels


class Library:
    """A loaded set of templates, with any problems found while loading (non-strict mode)."""

    def __init__(self, directory: Path, templates: list[Template], problems: list[str]) -> None:
        self.directory = directory
        self.templates = templates
        self.problems = problems
        self._by_id = {t.id: t for t in templates}

    @classmethod
    def load(
        cls, directory: str | Path, *, strict: bool = True, hazards: Mapping[str, Hazard] | None = None
    ) -> Library:
        """Load every *.yaml under directory; in strict mode any problem raises LibraryError."""
        directory = Path(directory)
        hazards = default_hazards() if hazards is None else hazards
        problems: list[str] = []
        if not directory.is_dir():
            raise LibraryError([f"{directory}: not a directory; expected the template library folder"])
        templates: list[Template] = []
        seen: dict[str, Path] = {}
        for path in sorted(directory.rglob("*.yaml")):
            template, file_problems = _load_file(path, hazards)
            problems.extend(file_problems)
            if template is None:
                continue
            if template.id in seen:
                problems.append(
                    f"{path}: key 'id': {template.id!r} is already used by {seen[template.id]}; "
                    "expected an id unique in the library"
                )
                continue
            seen[template.id] = path
            templates.append(template)
        if strict and problems:
            raise LibraryError(problems)
        return cls(directory, templates, problems)

    def get(self, template_id: str) -> Template:
        try:
            return self._by_id[template_id]
        except KeyError:
            raise KeyError(f"no template {template_id!r} in {self.directory}") from None

    def find(
        self,
        hazard: str,
        level: str | None,
        audience: str,
        channel: str,
        stage: str,
        language: str = "zh-CN",
    ) -> list[Template]:
        """Templates for this situation, those written for specific levels first."""
        found = [
            t
            for t in self.templates
            if t.hazard == hazard
            and t.audience == audience
            and t.channel == channel
            and t.stage == stage
            and t.language == language
            and t.matches_level(level)
        ]
        return sorted(found, key=lambda t: (not t.levels, t.id))


# --- loading one file -------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice", key_node.start_mark
            )
        keys.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 50 else text[:47] + "..."


def _load_file(path: Path, hazards: Mapping[str, Hazard]) -> tuple[Template | None, list[str]]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [f"{path}: YAML syntax error{where}: {exc.problem}; expected valid YAML"]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot read: {exc}; expected a UTF-8 YAML file"]
    if not isinstance(data, dict):
        return None, [f"{path}: the file holds {_short(data)}; expected a mapping of template keys"]
    return _build(path, data, hazards)


def _build(path: Path, data: dict[str, Any], hazards: Mapping[str, Hazard]) -> tuple[Template | None, list[str]]:
    problems: list[str] = []

    def bad(key: str, value: Any, expected: str) -> None:
        problems.append(f"{path}: key '{key}': got {_short(value)}; expected {expected}")

    for key in data:
        if key not in TEMPLATE_KEYS:
            problems.append(
                f"{path}: key '{key}' is not a template key (value {_short(data[key])}); "
                f"expected only {', '.join(TEMPLATE_KEYS)}"
            )
    for key in REQUIRED_KEYS:
        if key not in data:
            problems.append(f"{path}: key '{key}' is missing; expected it in every template")

    def choice(key: str, allowed: Iterable[str]) -> str:
        allowed = list(allowed)
        value = data.get(key)
        if key in data and value not in allowed:
            bad(key, value, "one of " + ", ".join(allowed))
        return value if isinstance(value, str) else ""

    def text(key: str) -> str:
        value = data.get(key)
        if key in data and (not isinstance(value, str) or not value.strip()):
            bad(key, value, "a non-empty string")
        return value if isinstance(value, str) else ""

    template_id = text("id")
    if template_id and not ID_PATTERN.match(template_id):
        bad("id", template_id, "a dotted lower-case id such as 'rainstorm.orange.residents.sms'")
    hazard = choice("hazard", hazards)
    levels = data.get("levels")
    if "levels" in data and (
        not isinstance(levels, list) or any(lv not in LEVELS for lv in levels) or len(set(levels)) != len(levels)
    ):
        bad("levels", levels, f"a list of distinct levels among {', '.join(LEVELS)} ([] for any level)")
        levels = []
    version = data.get("version")
    if "version" in data and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        bad("version", version, "a whole number from 1 up")
        version = 0
    template = Template(
        id=template_id,
        hazard=hazard,
        levels=tuple(levels or ()),
        audience=choice("audience", AUDIENCES),
        channel=choice("channel", CHANNELS),
        language=choice("language", LANGUAGES),
        stage=choice("stage", STAGES),
        version=version if isinstance(version, int) else 0,
        title=text("title"),
        text=text("text"),
        review=_build_review(data.get("review"), bad) if data.get("review") is not None else None,
        path=path,
    )
    return (None if problems else template), problems


def _build_review(raw: Any, bad: Callable[[str, Any, str], None]) -> Review | None:
    if not isinstance(raw, dict):
        bad("review", raw, f"a mapping with {', '.join(REVIEW_KEYS)}")
        return None
    ok = True
    for key in raw:
        if key not in REVIEW_KEYS:
            bad(f"review.{key}", raw[key], f"only {', '.join(REVIEW_KEYS)} in the review block")
            ok = False
    for key in ("reviewed_by", "approved_by"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            bad(f"review.{key}", raw.get(key), "the name of a person or body")
            ok = False
    at = raw.get("at")
    when: datetime | None = at if isinstance(at, datetime) else None
    if isinstance(at, str):
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        bad("review.at", at, "an ISO 8601 time with offset, e.g. '2025-05-12T09:00:00+08:00'")
        ok = False
    digest = raw.get("hash")
    if not isinstance(digest, str) or not HASH_PATTERN.match(digest):
        bad("review.hash", digest, "64 lower-case hex digits (sha256)")
        ok = False
    if not ok or when is None:
        return None
    return Review(str(raw["reviewed_by"]), str(raw["approved_by"]), when, str(digest))


# --- stamping reviews -------------------------------------------------------------------------


def _quote(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar; it keeps 中文 readable and colons safe.
    return json.dumps(value, ensure_ascii=False)


def _review_block(review: Review) -> str:
    return (
        "review:\n"
        f"  reviewed_by: {_quote(review.reviewed_by)}\n"
        f"  approved_by: {_quote(review.approved_by)}\n"
        f"  at: {_quote(review.at.isoformat())}\n"
        f"  hash: {_quote(review.hash)}\n"
    )


def _replace_review_block(source: str, block: str) -> str:
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^review\s*:", line)), None)
    if start is None:
        head = source if source.endswith("\n") or not source else source + "\n"
        return head + block
    end = start + 1
    # The block runs on while lines are indented (or blank); the next top-level key ends it.
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t"):
        end += 1
    tail = lines[end:]
    return "".join(lines[:start]) + block + ("\n" if tail else "") + "".join(tail)


def record_review(template: Template, by: str, approved_by: str, at: datetime) -> Template:
    """Write a review block with the template's current hash into its file; return the new template."""
    if at.tzinfo is None:
        raise ValueError("review time needs a UTC offset, e.g. datetime(..., tzinfo=ZoneInfo('Asia/Shanghai'))")
    if not by.strip() or not approved_by.strip():
        raise ValueError("a review needs both a reviewer and an approver")
    on_disk, problems = _load_file(template.path, default_hazards())
    # Stamp only what the reviewer saw: the file must still hold the same content.
    if on_disk is None or on_disk.content_hash() != template.content_hash():
        raise LibraryError(problems or [f"{template.path}: file changed since it was loaded; reload and review again"])
    review = Review(by, approved_by, at, template.content_hash())
    source = template.path.read_text(encoding="utf-8")
    template.path.write_text(_replace_review_block(source, _review_block(review)), encoding="utf-8")
    return replace(template, review=review)


def stamp(
    library: Library, ids: Iterable[str], *, by: str, approved_by: str, at: datetime, every: bool = False
) -> list[Template]:
    """Record a review for the named templates (or, with every=True, all not reviewed); skip reviewed ones."""
    wanted = set(ids)
    unknown = wanted - {t.id for t in library.templates}
    if unknown:
        raise KeyError(f"no such templates in {library.directory}: {', '.join(sorted(unknown))}")
    return [
        record_review(t, by, approved_by, at)
        for t in library.templates
        if (every or t.id in wanted) and t.status != "reviewed"
    ]
