"""CAP field values from their text: date-times, numbers, points, polygons, circles, references."""

from __future__ import annotations

import math
import re
from datetime import datetime, tzinfo

from alerts.feeds.safexml import Rejected

_COMMA_SPACE = re.compile(r"\s*,\s*")
# A token with a second comma ("1,2,3"); searched from each comma, so it costs little.
_TWO_COMMAS = re.compile(r",[^\s,]*,")
# One reference: sender,identifier,sent; the national profile's sent may hold a space.
_REFERENCE = re.compile(r"([^\s,]*),([^\s,]+),(\d{4}-\d\d-\d\d[T ]\d\d:\d\d[^\s,]*)|(\S+)")
_TIME_EXAMPLE = "a date and time like 2026-07-12T05:30:00+08:00"


def parse_time(value: str, element: str, assume: tzinfo | None = None) -> datetime:
    """A CAP dateTime (T or space separated). Without an offset: `assume` it, or refuse."""
    if len(value) < 16 or value[10] not in "T ":
        raise Rejected(f"<{element}> is {value!r}; expected {_TIME_EXAMPLE}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected(f"<{element}> is {value!r}; expected {_TIME_EXAMPLE}") from None
    if parsed.tzinfo is None:
        if assume is None:
            raise Rejected(f"<{element}> is {value!r} without a UTC offset; CAP requires one, e.g. +08:00")
        parsed = parsed.replace(tzinfo=assume)
    return parsed


def parse_number(value: str, element: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise Rejected(f"<{element}> is {value!r}; expected a number") from None
    if not math.isfinite(number):
        raise Rejected(f"<{element}> is {value!r}; expected a finite number")
    return number


def parse_point(text: str, element: str) -> tuple[float, float]:
    lat_text, comma, lon_text = text.partition(",")
    if not comma:
        raise Rejected(f"<{element}> point {text!r} is not 'latitude,longitude'")
    try:
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise Rejected(f"<{element}> point {text!r} is not 'latitude,longitude'") from None
    # NaN fails both comparisons, so it is refused here too.
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise Rejected(f"<{element}> point {text!r} is outside latitude -90..90 / longitude -180..180")
    return lat, lon


def parse_polygon(text: str) -> list[tuple[float, float]]:
    """Space-separated "lat,lon" points; empty text is no polygon (NWS writes <polygon/>)."""
    points = _plain_polygon(text)
    if points is not None:
        return points
    # Anything unusual goes point by point: "lat, lon" is tolerated there, and a fault is named
    # with the point that has it.
    if "," in text:
        text = _COMMA_SPACE.sub(",", text)
    return [parse_point(pair, "polygon") for pair in text.split()]


def _plain_polygon(text: str) -> list[tuple[float, float]] | None:
    """The points of a plainly well-formed polygon, converted in bulk; None for anything else.

    NWS polygons run to thousands of points, and one Python call per point was most of the cost of
    reading them. Here the work is a few passes in C over the whole text: every token must hold
    exactly one comma (as many commas as tokens, and no token with two), every number must be
    finite (no letters n/N, so no nan or inf) and inside the latitude/longitude ranges.
    """
    pairs = text.split()
    if text.count(",") != len(pairs) or _TWO_COMMAS.search(text) or "n" in text or "N" in text:
        return None
    try:
        numbers = list(map(float, text.replace(",", " ").split()))
    except ValueError:
        return None
    if len(numbers) != 2 * len(pairs):  # an empty side, e.g. "45.1," next to ",-90.2"
        return None
    if not numbers:
        return []
    lats, lons = numbers[0::2], numbers[1::2]
    if min(lats) < -90.0 or max(lats) > 90.0 or min(lons) < -180.0 or max(lons) > 180.0:
        return None
    return list(zip(lats, lons, strict=True))


def parse_circle(text: str) -> dict[str, float] | None:
    """ "lat,lon radius" with the radius in kilometres, as a dict for the model's Circle."""
    if not text:
        return None
    parts = _COMMA_SPACE.sub(",", text).split()
    if len(parts) != 2:
        raise Rejected(f"<circle> is {text!r}; expected 'latitude,longitude radius'")
    lat, lon = parse_point(parts[0], "circle")
    radius = parse_number(parts[1], "circle radius")
    if radius < 0:
        raise Rejected(f"<circle> radius in {text!r} is negative")
    return {"lat": lat, "lon": lon, "radius_km": radius}


def parse_references(text: str) -> list[tuple[str, str, str]]:
    """CAP references are whitespace-separated "sender,identifier,sent" triples, kept as written."""
    refs: list[tuple[str, str, str]] = []
    for match in _REFERENCE.finditer(text):
        sender, identifier, sent, other = match.groups()
        if other is None:
            refs.append((sender, identifier, sent))
            continue
        # National feeds also write bare identifiers, or sender,identifier without the time.
        parts = other.split(",")
        if len(parts) > 3 or not parts[min(1, len(parts) - 1)]:
            raise Rejected(f"<references> entry {other!r} is not 'sender,identifier,sent'")
        if len(parts) == 1:
            refs.append(("", parts[0], ""))
        else:
            refs.append((parts[0], parts[1], parts[2] if len(parts) == 3 else ""))
    return refs
