"""The 叫应 roster: responsible persons of townships, villages and institutions, imported from CSV.

Columns: key, name, role, level, area, unit, kind, rank, phone (status optional). `level` is
township, village, institution or duty_office (a township's duty office, the last step of
escalation); `unit` names the village or institution; `kind` the institution's kind (school,
coal_mine, enterprise, ...); `rank` 1 is asked first, 2 next. Re-importing updates by key.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.recipients import ImportReport, RowProblem, normalise_phone
from alerts.store.tables import responsible_persons
from alerts.textclean import clean

REQUIRED_COLUMNS = ("key", "name", "level", "area", "rank", "phone")
LEVELS = ("township", "village", "institution", "duty_office")
LEVEL_ZH = {"township": "乡镇", "village": "村（社区）", "institution": "单位", "duty_office": "乡镇值班室"}


@dataclass
class PersonRow:
    key: str
    name: str
    role: str
    level: str
    area: str
    unit: str
    kind: str
    rank: int
    phone: str
    status: str = "active"


def unit_key(level: str, area: str, unit: str) -> str:
    """Whom one acknowledgement stands for: a township, one of its villages, or an institution."""
    if level in ("township", "duty_office"):
        return f"township:{area}"
    return f"{level}:{area}:{unit}"


def parse_people_csv(text: str, areas: Areas) -> tuple[list[PersonRow], list[RowProblem]]:
    """Validate every row; a row with any problem is reported and skipped, good rows are kept."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [RowProblem(1, ",".join(missing), "missing column(s); the header needs "
                                                     f"{', '.join(REQUIRED_COLUMNS)} (role, unit, kind optional)")]
    rows: list[PersonRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        rec = {k.strip(): clean(v or "", one_line=True).strip() for k, v in raw.items() if k}
        found: list[RowProblem] = []
        key, name, level = rec.get("key", ""), rec.get("name", ""), rec.get("level", "")
        if not key or len(key) > 100:
            found.append(RowProblem(line, "key", "empty or longer than 100 characters: give each person a stable id"))
        elif key in seen:
            found.append(RowProblem(line, "key", f"{key!r} is used again (first on row {seen[key]})"))
        if not name:
            found.append(RowProblem(line, "name", "empty: give the person's name"))
        if level not in LEVELS:
            found.append(RowProblem(line, "level", f"{level!r}: expected one of {', '.join(LEVELS)}"))
        area = areas.code_for(rec.get("area", ""))
        if area is None:
            found.append(RowProblem(line, "area", f"{rec.get('area', '')!r} is not a township code or name in areas.yaml"))
        unit, kind = rec.get("unit", ""), rec.get("kind", "")
        if level in ("village", "institution") and not unit:
            found.append(RowProblem(line, "unit", f"a {level} person needs the {level}'s name in unit"))
        if level == "institution" and not kind:
            found.append(RowProblem(line, "kind", "an institution needs its kind (school, coal_mine, enterprise, ...)"))
        rank_text = rec.get("rank", "") or "1"
        if not rank_text.isdigit() or not 1 <= int(rank_text) <= 99:
            found.append(RowProblem(line, "rank", f"{rank_text!r}: expected 1 (asked first), 2, 3, ..."))
        phone = normalise_phone(rec.get("phone", ""))
        if phone is None:
            found.append(RowProblem(line, "phone", "not a valid phone number (e.g. +8613800000000 or 13800000000)"))
        status = rec.get("status") or "active"
        if status not in ("active", "inactive"):
            found.append(RowProblem(line, "status", f"{status!r}: expected active or inactive"))
        if found:
            problems.extend(found)
            continue
        assert area is not None and phone is not None
        seen[key] = line
        rows.append(PersonRow(key=key, name=name[:100], role=rec.get("role", "")[:60], level=level, area=area,
                              unit=unit[:200], kind=kind[:40], rank=int(rank_text), phone=phone, status=status))
    return rows, problems


async def upsert_people(conn: AsyncConnection, rows: Iterable[PersonRow], *, at: datetime, report: ImportReport) -> None:
    rows = list(rows)
    existing = {r.key: r for r in await conn.execute(
        select(responsible_persons).where(responsible_persons.c.key.in_([r.key for r in rows])))} if rows else {}
    fields = ("name", "role", "level", "area", "unit", "kind", "rank", "phone", "status")
    for r in rows:
        old = existing.get(r.key)
        values = {f: getattr(r, f) for f in fields}
        if old is None:
            await conn.execute(responsible_persons.insert().values(key=r.key, created_at=at, updated_at=at, **values))
            report.added += 1
        elif any(getattr(old, f) != v for f, v in values.items()):
            await conn.execute(update(responsible_persons).where(responsible_persons.c.id == old.id)
                               .values(updated_at=at, **values))
            report.updated += 1
        else:
            report.unchanged += 1


async def in_areas(conn: AsyncConnection, areas: list[str]) -> list[Any]:
    """Active persons of these townships, in roster order."""
    return list(await conn.execute(
        select(responsible_persons).where(and_(responsible_persons.c.area.in_(areas),
                                               responsible_persons.c.status == "active"))
        .order_by(responsible_persons.c.area, responsible_persons.c.level, responsible_persons.c.unit,
                  responsible_persons.c.rank, responsible_persons.c.id)))


async def by_phone(conn: AsyncConnection, phone: str) -> list[Any]:
    return list(await conn.execute(select(responsible_persons).where(responsible_persons.c.phone == phone)))


async def of_unit(conn: AsyncConnection, key: str) -> list[Any]:
    """The unit's persons by rank (duty offices excluded), and active only."""
    level, _, rest = key.partition(":")
    area, _, unit = rest.partition(":")
    q = select(responsible_persons).where(and_(responsible_persons.c.area == area,
                                               responsible_persons.c.status == "active"))
    if level == "township":
        q = q.where(responsible_persons.c.level == "township")
    else:
        q = q.where(and_(responsible_persons.c.level == level, responsible_persons.c.unit == unit))
    return list(await conn.execute(q.order_by(responsible_persons.c.rank, responsible_persons.c.id)))


async def duty_office(conn: AsyncConnection, area: str) -> list[Any]:
    return list(await conn.execute(
        select(responsible_persons).where(and_(responsible_persons.c.area == area,
                                               responsible_persons.c.level == "duty_office",
                                               responsible_persons.c.status == "active"))
        .order_by(responsible_persons.c.rank, responsible_persons.c.id)))
