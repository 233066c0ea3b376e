"""Reviewed wordings for events: task notices, 叫应 calls, policy-explanation and rumour-response skeletons.

One file per skeleton under templates/tasks/, templates/policy/ and templates/rumour/, ending in
`.yml` (the message library loads `*.yaml`; these have fields instead of alert variables). The
wording is fixed and reviewed: a review record holds the sha256 of everything a reviewer signs
off, so a changed file is unreviewed until stamped again, and the service refuses to use it.
Departments fill only the declared fields, each with a length limit, as literal text.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from alerts.textclean import clean
from alerts.textclean import problems as text_problems

KINDS = ("task", "callout", "policy", "rumour", "reminder")
FOLDERS = {"task": "tasks", "callout": "tasks", "policy": "policy", "rumour": "rumour", "reminder": "tasks"}
CHANNELS = ("sms", "notice", "im")
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True)
_URL = re.compile(r"(https?://|www\.)", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    # Compiling a text costs about a millisecond and every alert that opens an event renders its
    # tasks' texts; the texts are few and fixed, so each is compiled once.
    return _ENV.from_string(source)


class SkeletonError(Exception):
    """A skeleton file is malformed, or a filled field is refused; the message says where and what to do."""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    max: int
    example: str = ""


@dataclass(frozen=True)
class Skeleton:
    key: str
    kind: str
    title: str
    texts: dict[str, str]  # channel → jinja source
    fields: tuple[Field, ...] = ()
    departments: tuple[str, ...] = ()  # who may fill it (policy skeletons); empty: any department
    review: dict[str, str] | None = None
    path: Path | None = None

    def content_hash(self) -> str:
        canonical = {"key": self.key, "kind": self.kind, "title": self.title, "texts": self.texts,
                     "fields": [[f.name, f.label, f.max, f.example] for f in self.fields],
                     "departments": list(self.departments)}
        blob = json.dumps(canonical, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @property
    def status(self) -> str:
        if not self.review:
            return "unreviewed"
        return "reviewed" if self.review.get("hash") == self.content_hash() else "changed"

    def render(self, channel: str, context: dict[str, Any]) -> str:
        source = self.texts.get(channel)
        if source is None:
            raise SkeletonError(f"skeleton {self.key} has no {channel} text (it has {', '.join(self.texts)})")
        try:
            return _compiled(source).render(**context).strip()
        except TemplateError as exc:
            raise SkeletonError(f"skeleton {self.key} ({channel}): {exc}") from None

    def fill(self, values: dict[str, str]) -> dict[str, str]:
        """The department's field values, checked: every field given, none unknown, within its limit, plain text."""
        unknown = sorted(set(values) - {f.name for f in self.fields})
        if unknown:
            raise SkeletonError(f"unknown field(s) {', '.join(unknown)}; {self.key} has "
                                f"{', '.join(f.name for f in self.fields)}")
        out: dict[str, str] = {}
        for f in self.fields:
            raw = values.get(f.name, "")
            bad = text_problems(raw)
            if bad:
                raise SkeletonError(f"field {f.name} ({f.label}): {'; '.join(bad)} — retype it as plain text")
            value = " ".join(clean(raw).split())
            if not value:
                raise SkeletonError(f"field {f.name} ({f.label}) is empty — fill it, e.g. {f.example or '…'}")
            if len(value) > f.max:
                raise SkeletonError(f"field {f.name} ({f.label}) has {len(value)} characters; at most {f.max} fit "
                                    "in the reviewed wording — shorten it")
            if _URL.search(value):
                raise SkeletonError(f"field {f.name} ({f.label}) contains a web address; SMS to mainland numbers "
                                    "may carry none — give a telephone number or a place instead")
            out[f.name] = value
        return out


def _parse(path: Path, doc: Any) -> Skeleton:
    where = str(path)
    if not isinstance(doc, dict):
        raise SkeletonError(f"{where}: expected a mapping with key, kind, title, texts")
    unknown = sorted(set(doc) - {"key", "kind", "title", "texts", "fields", "departments", "review"})
    if unknown:
        raise SkeletonError(f"{where}: unknown key(s) {', '.join(unknown)}")
    key, kind, title = doc.get("key"), doc.get("kind"), doc.get("title")
    if not isinstance(key, str) or not _KEY.match(key) or key != path.name.removesuffix(".yml"):
        raise SkeletonError(f"{where}: key {key!r} must be lower_case and equal the file name without .yml")
    if kind not in KINDS:
        raise SkeletonError(f"{where}: kind {kind!r} — expected one of {', '.join(KINDS)}")
    if not isinstance(title, str) or not title.strip():
        raise SkeletonError(f"{where}: title is missing")
    texts = doc.get("texts")
    if not isinstance(texts, dict) or not texts or any(c not in CHANNELS or not isinstance(t, str)
                                                       for c, t in texts.items()):
        raise SkeletonError(f"{where}: texts must map channels ({', '.join(CHANNELS)}) to text")
    fields: list[Field] = []
    for i, f in enumerate(doc.get("fields") or []):
        if not isinstance(f, dict) or not _KEY.match(str(f.get("name", ""))) or not isinstance(f.get("max"), int):
            raise SkeletonError(f"{where}: fields[{i}] needs name (lower_case), label and max (a number)")
        fields.append(Field(str(f["name"]), str(f.get("label", f["name"])), int(f["max"]), str(f.get("example", ""))))
    review = doc.get("review")
    if review is not None and not (isinstance(review, dict) and {"reviewed_by", "approved_by", "at", "hash"} <= set(review)):
        raise SkeletonError(f"{where}: review needs reviewed_by, approved_by, at and hash")
    for channel, text in texts.items():
        try:
            _ENV.parse(text)
        except TemplateError as exc:
            raise SkeletonError(f"{where}: texts.{channel}: {exc}") from None
    return Skeleton(key=key, kind=kind, title=title.strip(), texts=dict(texts), fields=tuple(fields),
                    departments=tuple(doc.get("departments") or ()),
                    review={k: str(v) for k, v in review.items()} if review else None, path=path)


@dataclass
class Skeletons:
    """Every skeleton of the library, by kind and key; problems found while loading (one line each)."""

    by_key: dict[tuple[str, str], Skeleton] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, templates_dir: Path) -> Skeletons:
        out = cls()
        for folder in sorted(set(FOLDERS.values())):
            directory = templates_dir / folder
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob("*.yml")):
                try:
                    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
                    sk = _parse(path, doc)
                except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                    out.problems.append(f"{path}: cannot be read as UTF-8 YAML ({exc.__class__.__name__})")
                    continue
                except SkeletonError as exc:
                    out.problems.append(str(exc))
                    continue
                if FOLDERS[sk.kind] != folder:
                    out.problems.append(f"{path}: a {sk.kind} skeleton belongs in templates/{FOLDERS[sk.kind]}/")
                    continue
                out.by_key[(sk.kind, sk.key)] = sk
        return out

    def get(self, kind: str, key: str) -> Skeleton | None:
        return self.by_key.get((kind, key))

    def of_kind(self, kind: str) -> list[Skeleton]:
        return [s for (k, _), s in sorted(self.by_key.items()) if k == kind]

    def usable(self, kind: str, key: str) -> Skeleton:
        """The skeleton if it exists and its review holds; otherwise a refusal saying what to do."""
        sk = self.get(kind, key)
        if sk is None:
            known = ", ".join(s.key for s in self.of_kind(kind)) or "none"
            raise SkeletonError(f"no {kind} skeleton {key!r} (known: {known})")
        if sk.status != "reviewed":
            raise SkeletonError(f"the {kind} skeleton {key} is {sk.status}: its wording must be reviewed and "
                                "stamped again before use (python -m alerts.events.stamp)")
        return sk


def stamp(path: Path, *, reviewed_by: str, approved_by: str, at: datetime) -> str:
    """Record a review of the file's current wording: rewrite only its review block; return the hash."""
    text = path.read_text(encoding="utf-8")
    sk = _parse(path, yaml.safe_load(text))
    digest = sk.content_hash()
    body = re.split(r"(?m)^review:\s*$", text)[0].rstrip("\n")
    block = (f"\nreview:\n  reviewed_by: {json.dumps(reviewed_by, ensure_ascii=False)}\n"
             f"  approved_by: {json.dumps(approved_by, ensure_ascii=False)}\n"
             f"  at: \"{at.isoformat()}\"\n  hash: \"{digest}\"\n")
    path.write_text(body + "\n" + block, encoding="utf-8")
    return digest
