"""SMS rules: encoding detection, character and segment counts, and the checks a text must pass."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

DEFAULT_SIGNATURE = "【高平应急科普】"

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + septet = two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

# (characters in a single message, characters per part of a concatenated message)
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}

URL_PATTERN = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:cn|com|net|org|gov|edu|top|xyz|info|cc|io|me)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SmsMeasure:
    text: str  # exactly what is sent: signature then body
    characters: int
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int


def encoding_of(text: str) -> str:
    return "GSM-7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "UCS-2"


def _unit_costs(text: str, encoding: str) -> list[int]:
    if encoding == "GSM-7":
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    # UCS-2 counts UTF-16 code units: a character outside the BMP (most emoji) takes two.
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _segments(costs: list[int], single: int, per_part: int) -> int:
    total = sum(costs)
    if total == 0:
        return 0
    if total <= single:
        return 1
    # Fill parts in order; an escape pair or surrogate pair is never split across two parts.
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return parts


def measure(body: str, signature: str = DEFAULT_SIGNATURE) -> SmsMeasure:
    """Count what the carrier counts: the signature (brackets too) plus the body."""
    text = signature + body
    encoding = encoding_of(text)
    costs = _unit_costs(text, encoding)
    single, per_part = LIMITS[encoding]
    return SmsMeasure(text, sum(costs), encoding, _segments(costs, single, per_part))


def max_characters(encoding: str, segments: int) -> int:
    """How many characters fit in this many segments (134 for two UCS-2 parts)."""
    single, per_part = LIMITS[encoding]
    return single if segments == 1 else per_part * segments


DEFAULT_BANNED_WORDS = ("点击链接", "中奖", "领红包", "免费领取", "加微信", "扫码领取", "转账到")


@dataclass(frozen=True)
class SmsRules:
    signature: str = DEFAULT_SIGNATURE
    max_segments: int = 2
    # Twilio to mainland China accepts about 500 characters; domestic gateways may set less.
    provider_max_characters: int = 500
    # Words that make a text look like spam or fraud bait, which carriers filter and residents distrust.
    banned_words: tuple[str, ...] = field(default=DEFAULT_BANNED_WORDS)
    forbid_urls: bool = True

    def limit(self, encoding: str) -> int:
        return min(max_characters(encoding, self.max_segments), self.provider_max_characters)


def check(body: str, rules: SmsRules | None = None) -> list[str]:
    """Problems with an SMS body under the rules; an empty list means it may be sent."""
    rules = rules or SmsRules()
    if not body.strip():
        return ["empty: the message body is empty"]
    problems: list[str] = []
    if rules.signature and body.startswith(rules.signature):
        problems.append(f"signature {rules.signature} is already in the body; it is added when sending")
    m = measure(body, rules.signature)
    limit = rules.limit(m.encoding)
    if m.characters > limit or m.segments > rules.max_segments:
        problems.append(
            f"too long: {m.characters} characters ({m.encoding}, signature included) make {m.segments} "
            f"segments; the limit is {limit} characters ({rules.max_segments} segments); "
            f"cut {m.characters - limit}"
        )
    if rules.forbid_urls:
        for found in URL_PATTERN.finditer(body):
            problems.append(f"URL found: {found.group(0)!r}; links may not be sent to mainland China numbers")
    for word in rules.banned_words:
        if word in body:
            problems.append(f"banned word found: {word!r}")
    return problems


def segments_for(characters: int, encoding: str) -> int:
    """Segments needed for a text of this many unit characters (no pairs to keep together)."""
    single, per_part = LIMITS[encoding]
    if characters == 0:
        return 0
    return 1 if characters <= single else math.ceil(characters / per_part)
