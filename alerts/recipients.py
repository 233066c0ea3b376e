"""Residents and organisations: validated phone numbers, CSV import with a report, masking."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.store.tables import residents

REQUIRED_COLUMNS = ("phone", "area", "groups", "language")


def normalise_phone(raw: str, region: str = "CN") -> str | None:
    """E.164 form of a phone number, or None if it is not a valid number."""
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """+8613800138000 → +86 138****8000: enough to recognise, not enough to misuse."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    if phone.startswith("+86") and len(digits) == 13:
        return f"+86 {digits[2:5]}****{digits[-4:]}"
    if len(digits) <= 4:
        return "****"
    return f"+{digits[:2]}****{digits[-4:]}" if phone.startswith("+") else f"****{digits[-4:]}"


@dataclass
class RowProblem:
    row: int  # line number in the file, header = 1
    field: str
    problem: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.problem}"


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len({p.row for p in self.problems})


@dataclass
class ResidentRow:
    phone: str
    area: str
    village: str | None
    groups: str
    language: str
    consent_how: str


def parse_residents_csv(text: str, areas: Areas) -> tuple[list[ResidentRow], list[RowProblem]]:
    """Validate every row; bad rows are reported and skipped, good rows are kept."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [RowProblem(1, ",".join(missing), f"missing column(s); the header needs {', '.join(REQUIRED_COLUMNS)}")]
    rows: list[ResidentRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        row_problems = []
        phone = normalise_phone(rec.get("phone", ""))
        if phone is None:
            row_problems.append(RowProblem(line, "phone", f"{rec.get('phone', '')!r} is not a valid phone number"))
        area = areas.code_for(rec.get("area", ""))
        if area is None:
            row_problems.append(RowProblem(line, "area", f"{rec.get('area', '')!r} is not a township code or name in areas.yaml"))
        language = rec.get("language") or "zh-CN"
        if language not in ("zh-CN", "en"):
            row_problems.append(RowProblem(line, "language", f"{language!r}: expected zh-CN or en"))
        if phone is not None and phone in seen:
            row_problems.append(RowProblem(line, "phone", f"duplicate of row {seen[phone]}; the later row is skipped"))
        if row_problems:
            problems.extend(row_problems)
            continue
        assert phone is not None and area is not None
        seen[phone] = line
        groups = ";".join(sorted({g.strip() for g in rec.get("groups", "").split(";") if g.strip()}))
        rows.append(ResidentRow(phone, area, rec.get("village") or None, groups, language,
                                rec.get("consent") or "import"))
    return rows, problems


async def upsert_residents(conn: AsyncConnection, rows: Iterable[ResidentRow], *, at: datetime,
                           report: ImportReport, progress: Callable[[int], None] | None = None) -> None:
    """Insert new residents, update changed ones; opt-out status is never reset by an import."""
    batch: list[ResidentRow] = []

    async def flush() -> None:
        phones = [r.phone for r in batch]
        existing = {
            r.phone: r
            for r in await conn.execute(select(residents).where(residents.c.phone.in_(phones)))
        }
        inserts = []
        for r in batch:
            old = existing.get(r.phone)
            if old is None:
                inserts.append(dict(phone=r.phone, area=r.area, village=r.village, groups=r.groups,
                                    language=r.language, consent_at=at, consent_how=r.consent_how,
                                    status="active", created_at=at, updated_at=at, opted_out_how=""))
            elif (old.area, old.village, old.groups, old.language) != (r.area, r.village, r.groups, r.language):
                await conn.execute(update(residents).where(residents.c.id == old.id).values(
                    area=r.area, village=r.village, groups=r.groups, language=r.language, updated_at=at))
                report.updated += 1
            else:
                report.unchanged += 1
        if inserts:
            await conn.execute(residents.insert(), inserts)
            report.added += len(inserts)
        if progress:
            progress(len(batch))
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= 500:
            await flush()
    if batch:
        await flush()
