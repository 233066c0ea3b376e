"""Offline sources: a directory of dropped files, and the demo replay used by `make run`."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

XML_SUFFIXES = (".xml", ".cap", ".atom", ".rss")
log = logging.getLogger("alerts.feeds")


@dataclass(frozen=True)
class Document:
    key: str  # unique per source: the feed entry key recorded so it is processed once
    origin: str
    data: bytes


def directory_documents(path: Path, max_bytes: int) -> Iterator[Document]:
    """Every alert file in a directory, keyed by name and content hash (a changed file is new).

    A dropped Atom/RSS file gives one document per entry that embeds CAP (keyed by entry, so a
    feed file rewritten with one more entry adds only that one); linked documents are not
    fetched from a directory source. Anything else is passed on as it is, so that a broken
    file is kept with its reason by the pipeline.
    """
    for file in sorted(path.iterdir()):
        if not file.is_file() or file.suffix.lower() not in XML_SUFFIXES:
            continue
        try:
            data = file.read_bytes()[: max_bytes + 1]
        except OSError as exc:
            # One unreadable file (permissions, removed while listed) must not hide the others;
            # nothing is claimed, so it is tried again at the next poll.
            log.warning("%s: cannot read it (%s); the other files go on, this one is tried again", file, exc)
            continue
        entries = _feed_entries(file, data)
        if entries is not None:
            yield from entries
            continue
        digest = hashlib.sha256(data).hexdigest()[:16]
        yield Document(key=f"{file.name}:{digest}", origin=str(file), data=data)


def _feed_entries(file: Path, data: bytes) -> list[Document] | None:
    """The embedded CAP documents of a feed file; None when the file is not a sound feed."""
    from alerts.feeds.index import parse_index
    from alerts.feeds.poller import FEED_ROOTS, entry_key, root_name
    from alerts.feeds.safexml import Rejected

    if root_name(data) not in FEED_ROOTS:
        return None
    try:
        index = parse_index(data)
    except Rejected:
        return None
    docs = []
    for entry in index.entries:
        if entry.cap_xml is not None:
            docs.append(Document(key=f"{file.name}#{entry_key(entry)}", origin=f"{file}#{entry.entry_id}",
                                 data=entry.cap_xml))
        else:
            log.info("%s: entry %s has no embedded CAP; a directory source does not fetch links", file,
                     entry.entry_id)
    return docs


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
        name = doc.key if "#" in doc.key else doc.key.rsplit(":", 1)[0]  # a feed entry, or a file by name
        yield Document(key=f"demo:{name}", origin=doc.origin, data=shift_times(doc.data, now))
