"""Hardened XML intake shared by the CAP and feed parsers: size, prolog, depth and element limits."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass
from typing import cast

from lxml import etree


class Rejected(ValueError):
    """A received document was refused; `reason` says why, in words an operator can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Upper bounds on one document. Real warnings stay far below them; attacks do not."""

    max_bytes: int = 1 << 20
    max_depth: int = 24
    max_elements: int = 20_000
    max_infos: int = 32
    max_areas: int = 1_000  # summed over all info blocks
    max_points: int = 100_000  # polygon points summed over the document
    max_geocodes: int = 10_000  # summed over all areas


DEFAULT_LIMITS = ParseLimits()

_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")


class _PerThread(threading.local):
    # lxml parsers and compiled XPath objects must not be shared between threads.
    def __init__(self) -> None:
        self.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,  # comments would otherwise split element text
            remove_pis=True,
            collect_ids=False,
            strip_cdata=True,
        )
        self.count_elements = etree.XPath("count(//*)")
        self.deeper: dict[int, etree.XPath] = {}


_THREAD = _PerThread()


@functools.lru_cache(maxsize=16)
def _deeper_than_expr(depth: int) -> str:
    # "/*/*/*" selects elements at depth 3: any match one level below the limit means too deep.
    return "boolean(" + "/*" * (depth + 1) + ")"


def element_text(el: etree._Element) -> str:
    """The stripped text of an element; mixed content (stray markup in a field) is flattened."""
    if len(el):
        return "".join(map(str, el.itertext())).strip()
    text = el.text
    return text.strip() if text else ""


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise Rejected(f"expected the document as bytes, got {type(data).__name__}")


def _transcode_utf16(data: bytes) -> bytes:
    """UTF-16 with a BOM becomes UTF-8, so that the prolog check below sees plain ASCII markup."""
    try:
        text = data.decode("utf-16")
    except UnicodeDecodeError as exc:
        raise Rejected(f"document has a UTF-16 byte-order mark but is not valid UTF-16 ({exc.reason})") from None
    # The declaration would still say UTF-16; drop it, UTF-8 is the XML default.
    return _XML_DECLARATION.sub("", text, count=1).encode("utf-8")


def check_prolog(data: bytes) -> None:
    """Refuse DOCTYPE (and so every entity declaration) before libxml2 ever sees it.

    Entities can only be declared inside a DOCTYPE, and a DOCTYPE can only stand before the root
    element, so walking the prolog is enough; text later in the document is never misread.
    """
    i = 3 if data.startswith(_UTF8_BOM) else 0
    n = len(data)
    while True:
        i = _WHITESPACE.match(data, i).end()  # type: ignore[union-attr]  # [ ...]* always matches
        if i >= n:
            raise Rejected("document is empty: no root element")
        if data[i] != 0x3C:  # "<"
            raise Rejected(f"not an XML document: expected '<' at byte {i}, found {data[i:i + 12]!r}")
        if data.startswith(b"<?", i):
            end = data.find(b"?>", i + 2)
            if end < 0:
                raise Rejected("not well-formed XML: unterminated processing instruction before the root element")
            i = end + 2
        elif data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            if end < 0:
                raise Rejected("not well-formed XML: unterminated comment before the root element")
            i = end + 3
        elif data.startswith(b"<!", i):
            raise Rejected(
                "document type declarations (<!DOCTYPE ...>) are not accepted: they can declare "
                "entities that read local files or the network (XXE); send the document without one"
            )
        else:
            return


def parse_xml(data: bytes, limits: ParseLimits) -> etree._Element:
    """Parse untrusted bytes into an element tree, or raise Rejected."""
    data = _as_bytes(data)
    if len(data) > limits.max_bytes:
        raise Rejected(f"document is {len(data)} bytes, over the limit of {limits.max_bytes} bytes")
    if data.startswith(_UTF32_BOMS):
        raise Rejected("UTF-32 documents are not accepted; send UTF-8")
    if data.startswith(_UTF16_BOMS):
        data = _transcode_utf16(data)
    elif b"\x00" in data:
        # A NUL byte means UTF-16/32 without a byte-order mark (or binary junk); in that form a
        # DOCTYPE could slip past the ASCII prolog check, so it is refused outright.
        raise Rejected("document contains NUL bytes: UTF-16/32 needs a byte-order mark, UTF-8 is preferred")
    check_prolog(data)
    try:
        root = etree.fromstring(data, _THREAD.parser)
    except etree.XMLSyntaxError as exc:
        raise Rejected(f"not well-formed XML: {exc}") from None
    except (etree.LxmlError, ValueError, LookupError) as exc:
        raise Rejected(f"cannot parse XML: {exc}") from None
    if root is None:
        raise Rejected("document is empty: no root element")
    # Second line of defence: check_prolog has refused every DOCTYPE it could see.
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise Rejected("document type declarations (<!DOCTYPE ...>) are not accepted")
    _check_shape(data, root, limits)
    return root


def refits(data: bytes, root: etree._Element, limits: ParseLimits) -> bool:
    """Whether parse_xml(data, limits) would return a tree equal to `root`, which parse_xml gave for the
    same bytes under other limits: then a caller can use `root` instead of parsing the bytes again.
    Only the limits differ between the two calls; transcoded documents are simply parsed again."""
    if not isinstance(data, bytes) or len(data) > limits.max_bytes or data.startswith(_UTF16_BOMS):
        return False
    try:
        _check_shape(data, root, limits)
    except Rejected:
        return False
    return True


def _check_shape(data: bytes, root: etree._Element, limits: ParseLimits) -> None:
    # Every element has a start tag beginning with "<", so the count of "<" bytes bounds the
    # element count from above without walking the tree; only big documents need the exact count.
    if data.count(b"<") > limits.max_elements:
        count = int(cast(float, _THREAD.count_elements(root)))
        if count > limits.max_elements:
            raise Rejected(f"document has {count} elements, over the limit of {limits.max_elements}")
    deeper = _THREAD.deeper.get(limits.max_depth)
    if deeper is None:
        deeper = _THREAD.deeper[limits.max_depth] = etree.XPath(_deeper_than_expr(limits.max_depth))
    if deeper(root):
        raise Rejected(f"document nests elements deeper than the limit of {limits.max_depth} levels")
