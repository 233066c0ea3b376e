"""Administrative areas by code: which of our townships an alert covers, and how to name them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerts.model import Alert
from alerts.settings.areas import AreasConfig


@dataclass(frozen=True)
class Township:
    code: str
    name: str
    population: int | None
    geometry: Any | None  # a shapely geometry when the operator supplied GeoJSON


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
        codes: set[str] = set()
        for info in alert.infos:
            for area in info.areas:
                found: set[str] = set()
                for geocode in area.geocodes:
                    found.update(self._match_geocode(geocode.value.strip()))
                if area.polygons and any(t.geometry is not None for t in self.townships.values()):
                    found.update(self._match_polygons(area.polygons))
                # Names in the description are the weakest evidence: used only when the area has
                # no geocodes and its polygons (if any) could not be placed.
                if not found and not area.geocodes and area.desc:
                    found.update(t.code for t in self.townships.values() if t.name in area.desc)
                codes.update(found)
        return sorted(codes)

    def _match_geocode(self, value: str) -> set[str]:
        if not value.isdigit():
            return set()
        # A code for the whole region (140581 or 140581000000) covers every township.
        if value[:6] == self.region_code and value[6:].strip("0") == "":
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
        """A short phrase for SMS (at most 12 characters): the whole city, two names, or a count."""
        if not codes or set(codes) >= set(self.townships):
            return f"{self.region_name}全境"
        names = self.names(codes)
        if len(names) <= 2 and len("、".join(names)) <= 12:
            return "、".join(names)
        return f"{self.region_name}{len(names)}个乡镇"

    def population(self, codes: list[str]) -> int | None:
        values = [self.townships[c].population for c in codes if c in self.townships]
        if not values or any(v is None for v in values):
            return None
        return sum(v for v in values if v is not None)
