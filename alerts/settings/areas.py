"""config/areas.yaml: the region's administrative areas by code, with optional polygons."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from alerts.settings._base import Section


class AreaSection(Section):
    code: str = Field(pattern=r"^\d{6,12}$")
    name: str
    population: int | None = Field(None, ge=0)
    # Optional GeoJSON geometry (Polygon or MultiPolygon) supplied by the operator.
    geometry: dict[str, Any] | None = None
    villages: list[str] = Field(default_factory=list)


class AreasConfig(Section):
    region_code: str = Field(pattern=r"^\d{6}$")
    region_name: str
    areas: list[AreaSection]
