"""Atom and RSS index feeds: which alerts a feed lists, where their CAP documents are, what they embed."""

from __future__ import annotations

import email.utils
import io
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser  # type: ignore[import-untyped]  # ships no type information
from lxml import etree

from alerts.feeds.cap import NAMESPACES as CAP_NAMESPACES
from alerts.feeds.safexml import ParseLimits, Rejected, element_text, parse_xml

__all__ = ["CAP_MEDIA_TYPES", "IndexEntry", "IndexResult", "parse_index"]

ATOM = "http://www.w3.org/2005/Atom"
_ATOM_NAMESPACES = (ATOM, "http://purl.org/atom/ns#")  # Atom 1.0 and the older 0.3
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS1 = "http://purl.org/rss/1.0/"

CAP_MEDIA_TYPES = frozenset({
    "application/cap+xml",
    "application/common-alerting-protocol+xml",
    "application/xml+cap",
})

# Feeds are bigger than single alerts (a national NWS index runs to megabytes), and an
# embedded alert sits a few levels below the entry.
FEED_LIMITS = ParseLimits(max_bytes=8 << 20, max_depth=32, max_elements=400_000)


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One feed entry. Nothing here has been fetched: links are for the poller to follow."""

    entry_id: str
    title: str = ""
    link: str | None = None  # the entry's main link, absolute when a base URL was given
    cap_link: str | None = None  # the link most likely to return the CAP document itself
    updated: datetime | None = None
    cap_xml: bytes | None = None  # a CAP <alert> embedded in the entry, as a standalone document
    cap: dict[str, str] = field(default_factory=dict)  # NWS-style cap:event, cap:severity, cap:expires...
    cap_geocodes: tuple[tuple[str, str], ...] = ()
    cap_parameters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class IndexResult:
    kind: str  # "atom" or "rss"
    version: str  # as feedparser names it: "atom10", "rss20", ...
    feed_id: str
    title: str
    updated: datetime | None
    entries: tuple[IndexEntry, ...]
    skipped: tuple[str, ...] = ()  # why entries were left out, one line each


def parse_index(
    data: bytes, base_url: str = "", *, limits: ParseLimits = FEED_LIMITS, max_entries: int = 10_000
) -> IndexResult:
    """List the entries of an Atom or RSS feed, or raise Rejected if it is not a sound feed."""
    root = parse_xml(data, limits)
    kind, container = _feed_kind(root)
    items = _item_elements(container, kind)
    if len(items) > max_entries:
        raise Rejected(f"feed has {len(items)} entries, over the limit of {max_entries}")
    parsed = _feedparser(data)

    title_el = _child(container, "title")
    if title_el is None:
        where = "Atom <feed>" if kind == "atom" else "RSS <channel>"
        raise Rejected(f"{where} has no <title>: not a valid feed")
    id_el = _child(container, "id" if kind == "atom" else "link")  # RSS channels have no id
    feed_id = element_text(id_el) if id_el is not None else ""

    fp_entries: list[Any] = list(parsed.entries)
    aligned = len(fp_entries) == len(items)  # both walk the document in order
    entries: list[IndexEntry] = []
    skipped: list[str] = []
    for position, item in enumerate(items):
        fp_entry = fp_entries[position] if aligned else None
        entry = _entry(item, kind, fp_entry, base_url)
        if isinstance(entry, str):
            skipped.append(f"entry {position + 1}: {entry}")
        else:
            entries.append(entry)
    return IndexResult(
        kind=kind,
        version=str(parsed.get("version", "")),
        feed_id=feed_id,
        title=element_text(title_el),
        updated=_time_of(container, kind, parsed.feed),
        entries=tuple(entries),
        skipped=tuple(skipped),
    )


def _split(tag: object) -> tuple[str, str]:
    if not isinstance(tag, str):
        return "", ""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def _feed_kind(root: etree._Element) -> tuple[str, etree._Element]:
    namespace, local = _split(root.tag)
    if local == "feed" and namespace in _ATOM_NAMESPACES:
        return "atom", root
    if local == "rss" and not namespace:
        channel = _child(root, "channel")
        if channel is None:
            raise Rejected("RSS document has no <channel>")
        return "rss", channel
    if local == "RDF" and namespace == _RDF:
        channel = _child(root, "channel", _RSS1)
        if channel is None:
            raise Rejected("RSS 1.0 document has no <channel>")
        return "rdf", channel
    shown = f"{{{namespace}}}{local}" if namespace else local
    hint = "; this looks like a CAP alert, parse it with parse_alert" if local == "alert" else ""
    raise Rejected(f"not an Atom or RSS feed: the root element is <{shown}>{hint}")


def _child(el: etree._Element, local: str, namespace: str | None = None) -> etree._Element | None:
    """First child with this local name in the parent's own namespace (or the one given).

    Feed vocabularies keep their elements in one namespace, so an extension's <media:title>
    or <cap:title> is never taken for the feed's own.
    """
    wanted = _split(el.tag)[0] if namespace is None else namespace
    for child in el:
        if _split(child.tag) == (wanted, local):
            return child
    return None


def _item_elements(container: etree._Element, kind: str) -> list[etree._Element]:
    wanted = "entry" if kind == "atom" else "item"
    # RSS 1.0 keeps its items beside the channel, not inside it.
    parent = container.getparent() if kind == "rdf" else container
    assert parent is not None
    return [child for child in parent if _split(child.tag)[1] == wanted]


def _feedparser(data: bytes) -> Any:
    # A file object, never bytes or str: feedparser treats a string that names a file or a URL
    # as something to open, and this function must not read files or touch the network.
    try:
        parsed = feedparser.parse(io.BytesIO(data), resolve_relative_uris=False, sanitize_html=False)
    except Exception as exc:  # noqa: BLE001 - a third-party parser on hostile input: anything may fail
        raise Rejected(f"feedparser could not read the feed: {type(exc).__name__}: {exc}") from None
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        if not isinstance(problem, feedparser.CharacterEncodingOverride | feedparser.NonXMLContentType):
            raise Rejected(f"feed is broken: {problem}")
    if not parsed.get("version"):
        raise Rejected("not a feed feedparser recognises (no Atom or RSS version)")
    return parsed


def _entry(item: etree._Element, kind: str, fp_entry: Any, base_url: str) -> IndexEntry | str:
    """The entry, or a reason to skip it."""
    links = _links(item, kind, base_url)
    main = next((href for href, rel, _ in links if rel == "alternate"), links[0][0] if links else None)
    cap_link = next((href for href, _, kind_ in links if kind_ in CAP_MEDIA_TYPES), None)
    if cap_link is None and main is not None:
        main_type = next((t for href, rel, t in links if href == main), "")
        if not main_type or main_type.endswith("xml"):
            cap_link = main  # an index of alerts links to them without saying the type
    id_el = _child(item, "id" if kind == "atom" else "guid")
    # The id as written: feedparser would resolve an RSS guid against the base URL.
    entry_id = (element_text(id_el) if id_el is not None else "") or (
        fp_entry.get("id") if fp_entry is not None else None
    ) or main or ""
    if not entry_id:
        return "no id and no link"
    title_el = _child(item, "title")
    # The entry's own <title> only: feedparser would also take an extension's <media:title>.
    title = element_text(title_el) if title_el is not None else ""
    if kind != "atom" and title_el is None and _child(item, "description") is None:
        return f"{entry_id!r} has neither <title> nor <description>"
    cap: dict[str, str] = {}
    geocodes: list[tuple[str, str]] = []
    parameters: list[tuple[str, str]] = []
    embedded: bytes | None = None
    for child in item:
        namespace, local = _split(child.tag)
        if namespace in CAP_NAMESPACES:
            if local in ("geocode", "parameter"):
                (geocodes if local == "geocode" else parameters).append(_pair(child))
            elif not len(child):
                cap.setdefault(local, element_text(child))
        elif embedded is None:
            embedded = _embedded_alert(child)
    return IndexEntry(
        entry_id=entry_id,
        title=title,
        link=main,
        cap_link=cap_link,
        updated=_time_of(item, kind, fp_entry),
        cap_xml=embedded,
        cap=cap,
        cap_geocodes=tuple(geocodes),
        cap_parameters=tuple(parameters),
    )


def _links(item: etree._Element, kind: str, base_url: str) -> list[tuple[str, str, str]]:
    """(absolute href, rel, media type) of every link of an entry, in document order."""
    found: list[tuple[str, str, str]] = []
    for child in item:
        namespace, local = _split(child.tag)
        if local == "link" and (namespace in _ATOM_NAMESPACES or child.get("href")):
            href = (child.get("href") or "").strip()
            rel = child.get("rel") or "alternate"
            media = (child.get("type") or "").strip().lower()
        elif local == "link" and kind != "atom":
            href, rel, media = element_text(child), "alternate", ""
        elif local == "enclosure" and kind != "atom":
            href = (child.get("url") or "").strip()
            rel, media = "enclosure", (child.get("type") or "").strip().lower()
        else:
            continue
        if href:
            # xml:base on the entry or feed wins over the URL the feed was fetched from.
            try:
                base = urljoin(base_url, child.base) if child.base else base_url
                found.append((urljoin(base, href) if base else href, rel, media))
            except ValueError:
                continue  # not a URL (e.g. "http://[::1"): a link nobody could follow

    return found


def _pair(el: etree._Element) -> tuple[str, str]:
    # NWS writes <cap:geocode><valueName>..</valueName><value>..</value>: the inner names sit in
    # the feed's default namespace, so only local names are compared.
    name = value = ""
    for child in el:
        local = _split(child.tag)[1]
        if local == "valueName":
            name = element_text(child)
        elif local == "value":
            value = element_text(child)
    return name, value


def _embedded_alert(el: etree._Element) -> bytes | None:
    for node in el.iter():
        namespace, local = _split(node.tag)
        if local == "alert" and (namespace in CAP_NAMESPACES or not namespace):
            return etree.tostring(node, encoding="UTF-8", xml_declaration=True, with_tail=False)
    return None


def _time_of(el: etree._Element, kind: str, fp_item: Any) -> datetime | None:
    """When an entry or feed was last updated, with its offset kept when the feed wrote one."""
    names = ("updated", "modified", "published", "issued") if kind == "atom" else ("pubDate", "lastBuildDate", "date")
    for name in names:
        for child in el:
            if _split(child.tag)[1] == name:
                parsed = _parse_time(element_text(child))
                if parsed is not None:
                    return parsed
    if fp_item is not None:
        # feedparser knows many more date dialects; it returns them as UTC.
        for key in ("updated_parsed", "published_parsed"):
            value = fp_item.get(key)
            if isinstance(value, time.struct_time):
                try:
                    return datetime(*value[:6], tzinfo=UTC)
                except (ValueError, OverflowError):
                    continue
    return None


def _parse_time(text: str) -> datetime | None:
    if not text:
        return None
    parsed: datetime | None = None
    if len(text) >= 16 and text[10] in "Tt ":
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        try:
            parsed = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    # RFC 822 "-0000" and offset-less ISO times say nothing about the zone; UTC is the reading
    # that feed generators mean in practice.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
