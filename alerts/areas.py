"""Administrative areas by code: which of our townships an alert covers, and how to name them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.model import Alert
from alerts.settings.areas import AreasConfig


@dataclass(frozen=True)
class Township:
    code: str
    name: str
    population: int | None
    geometry: Any | None  # a shapely geometry when the operator supplied GeoJSON


# An area phrase in an SMS names up to four townships, or the first ones and a count; at most this
# many characters, so that the content checks can measure every text at its worst case.
AREA_PHRASE_MAX = 20
MAX_NAMED = 4


@dataclass
class Coverage:
    """Which of our townships an alert covers, and the codes we did not know that fell back to the city."""

    codes: list[str]
    unknown: list[str] = field(default_factory=list)  # geocodes in our region, not in areas.yaml


class Areas:
    def __init__(self, config: AreasConfig):
        self.region_code = config.region_code
        self.region_name = config.region_name
        self.townships: dict[str, Township] = {}
        for a in config.areas:
            geom = None
            if a.geometry is not None:
                from shapely.geometry import shape

                geom = shape(a.geometry)
            self.townships[a.code] = Township(a.code, a.name, a.population, geom)
        self._by_name = {t.name: t.code for t in self.townships.values()}

    def code_for(self, code_or_name: str) -> str | None:
        """A township code from a code (9 or 12 digits) or a name; None when not ours."""
        value = code_or_name.strip()
        if value in self._by_name:
            return self._by_name[value]
        if value.isdigit():
            short = value[:9]
            if short in self.townships and value[9:].strip("0") == "":
                return short
        return None

    def covered(self, alert: Alert) -> list[str]:
        """Our townships the alert covers, from geocodes (prefix) and polygons (intersection)."""
        return self.coverage(alert).codes

    def coverage(self, alert: Alert) -> Coverage:
        """As `covered`, and which geocodes of our region were unknown (they fall back to the whole city:
        a new township code must never drop a warning, DOMAIN.md §4)."""
        codes: set[str] = set()
        unknown: set[str] = set()
        for info in alert.infos:
            for area in info.areas:
                found: set[str] = set()
                for geocode in area.geocodes:
                    value = geocode.value.strip()
                    matched = self._match_geocode(value)
                    if not matched and self._in_region(value):
                        unknown.add(value)
                        matched = set(self.townships)
                    found.update(matched)
                if area.polygons and any(t.geometry is not None for t in self.townships.values()):
                    found.update(self._match_polygons(area.polygons))
                # Names in the description are the weakest evidence: used only when the area has
                # no geocodes and its polygons (if any) could not be placed.
                if not found and not area.geocodes and area.desc:
                    found.update(t.code for t in self.townships.values() if t.name in area.desc)
                codes.update(found)
        return Coverage(sorted(codes), sorted(unknown))

    def _in_region(self, value: str) -> bool:
        """A code of our city (its first six digits) that is not a township we know."""
        return value.isdigit() and len(value) >= 9 and value[:6] == self.region_code

    def _match_geocode(self, value: str) -> set[str]:
        if not value.isdigit():
            return set()
        # A code for the whole region (140581 or 140581000000) covers every township, and so does one
        # for the prefecture or province that contains it (140500000000, 140000000000).
        if value[:6] == self.region_code and value[6:].strip("0") == "":
            return set(self.townships)
        significant = value.rstrip("0")
        if len(value) >= 6 and len(significant) >= 2 and self.region_code.startswith(significant) \
                and value[:6].rstrip("0") == significant:
            return set(self.townships)
        short = value[:9]
        if short in self.townships:
            return {short}
        return set()

    def _match_polygons(self, polygons: list[list[tuple[float, float]]]) -> set[str]:
        from shapely.geometry import Polygon

        found: set[str] = set()
        for points in polygons:
            if len(points) < 3:
                continue
            # CAP writes lat,lon; GeoJSON geometry is lon,lat.
            poly = Polygon([(lon, lat) for lat, lon in points])
            if not poly.is_valid:
                poly = poly.buffer(0)
            for t in self.townships.values():
                if t.geometry is not None and t.geometry.intersects(poly):
                    found.add(t.code)
        return found

    def names(self, codes: list[str]) -> list[str]:
        return [self.townships[c].name for c in codes if c in self.townships]

    def phrase(self, codes: list[str]) -> str:
        """The area as an SMS names it, at most AREA_PHRASE_MAX characters: the whole city, up to four
        township names, or the first names and a count (北城街道、东城街道等9个乡镇)."""
        if not codes or set(codes) >= set(self.townships):
            return f"{self.region_name}全境"
        names = self.names(codes) or [self.region_name]
        joined = "、".join(names)
        if len(names) <= MAX_NAMED and len(joined) <= AREA_PHRASE_MAX:
            return joined
        count = f"等{len(names)}个乡镇"
        for k in range(min(len(names), MAX_NAMED) - 1, 0, -1):
            head = "、".join(names[:k])
            if len(head) + len(count) <= AREA_PHRASE_MAX:
                return head + count
        return f"{self.region_name}{len(names)}个乡镇"

    def longest_phrase(self) -> str:
        """The longest phrase `phrase` can give for this configuration: the worst case for SMS lengths."""
        codes = sorted(self.townships)
        candidates = [self.phrase(codes[:n]) for n in range(1, len(codes) + 1)]
        # Named phrases depend on which townships: try the longest names together too.
        by_length = sorted(codes, key=lambda c: -len(self.townships[c].name))
        candidates += [self.phrase(sorted(by_length[:n])) for n in range(1, len(codes))]
        return max(candidates, key=len) if candidates else self.region_name

    def population(self, codes: list[str]) -> int | None:
        values = [self.townships[c].population for c in codes if c in self.townships]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)
