"""Offline sources: a directory of dropped files, and the demo replay used by `make run`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

XML_SUFFIXES = (".xml", ".cap", ".atom", ".rss")


@dataclass(frozen=True)
class Document:
    key: str  # unique per source: the feed entry key recorded so it is processed once
    origin: str
    data: bytes


def directory_documents(path: Path, max_bytes: int) -> Iterator[Document]:
    """Every alert file in a directory, keyed by name and content hash (a changed file is new)."""
    for file in sorted(path.iterdir()):
        if not file.is_file() or file.suffix.lower() not in XML_SUFFIXES:
            continue
        data = file.read_bytes()[: max_bytes + 1]
        digest = hashlib.sha256(data).hexdigest()[:16]
        yield Document(key=f"{file.name}:{digest}", origin=str(file), data=data)


_TIME = re.compile(rb"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})([+-]\d{2}:\d{2})")


def shift_times(data: bytes, now: datetime) -> bytes:
    """Move every timestamp in a sample so its first one is `now`, keeping the intervals.

    The demo replays real-shaped samples whose dates have passed; without this they would
    arrive already expired and nothing would reach the queue.
    """
    matches = list(_TIME.finditer(data))
    if not matches:
        return data

    def parse(m: re.Match[bytes]) -> datetime:
        return datetime.fromisoformat(f"{m[1].decode()}T{m[2].decode()}{m[3].decode()}")

    delta: timedelta = now - parse(matches[0])
    delta = timedelta(seconds=int(delta.total_seconds()))

    def repl(m: re.Match[bytes]) -> bytes:
        moved = (parse(m) + delta).astimezone(parse(m).tzinfo)
        sep = b"T" if b"T" in m[0] else b" "
        return moved.strftime("%Y-%m-%d").encode() + sep + moved.strftime("%H:%M:%S").encode() + m[3]

    return _TIME.sub(repl, data)


def demo_documents(path: Path, now: datetime, max_bytes: int) -> Iterator[Document]:
    """The demo samples, re-timed to now; the key stays the file name so each replays once."""
    for doc in directory_documents(path, max_bytes):
        name = doc.key.split(":")[0]
        yield Document(key=f"demo:{name}", origin=doc.origin, data=shift_times(doc.data, now))
