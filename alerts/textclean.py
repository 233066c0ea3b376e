"""Text hygiene at every edge where text enters: no control, bidirectional or zero-width characters.

Such characters are invisible to a reviewer yet change what a resident's phone shows (a
right-to-left override reorders a number; a zero-width space splits a keyword past a filter), and
an XML 1.0 document cannot carry control characters at all, so one of them in a stored text would
break every feed that publishes it. Ingest and the public feeds strip them (`clean`); people's edits
are refused with the position of the first one (`problems`), so the editor sees what was wrong.
"""

from __future__ import annotations

import re
import unicodedata

# Bidirectional formatting (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI, LRM, RLM, ALM) and
# zero-width or invisible joiners/spaces (ZWSP, ZWNJ, ZWJ, WJ, invisible operators, BOM, soft hyphen).
_INVISIBLE = (
    "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
    "\u200b-\u200d\u2060-\u2064\ufeff\u00ad\u180e"
)
# C0 controls except tab and newlines, DEL, C1 controls; XML 1.0 also excludes U+FFFE/U+FFFF and
# lone surrogates.
_CONTROL = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff"
_BAD = re.compile(f"[{_INVISIBLE}{_CONTROL}]")
_BAD_ONE_LINE = re.compile(f"[{_INVISIBLE}{_CONTROL}\t\r\n]")


def clean(text: str, *, one_line: bool = False) -> str:
    """The text without control, bidirectional or zero-width characters (a one-line field loses
    tabs and line breaks too, each replaced by a space), and with carriage returns made newlines."""
    if not text:
        return text
    if one_line:
        return _BAD_ONE_LINE.sub(lambda m: " " if m.group() in "\t\r\n" else "", text)
    return _BAD.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def problems(text: str, *, field: str = "text") -> list[str]:
    """One line per forbidden character: where it is and what it is, for a person to fix."""
    out = []
    for m in _BAD.finditer(text):
        char = m.group()
        name = unicodedata.name(char, "") or "control character"
        out.append(f"{field}: character {m.start() + 1} is U+{ord(char):04X} ({name}), an invisible or "
                   "control character — delete it (retype the text around it) and save again")
    return out


def is_clean(text: str) -> bool:
    return _BAD.search(text) is None
