"""Residents: validated phone numbers, CSV import with a report, masking, opt-out, export and erasure.

Residents' CSV (UTF-8, header row): phone, area, groups, language; optional village, consent, voice.
  phone     any form `phonenumbers` reads for region CN (13800138000, +86 138 0013 8000)
  area      a township code (140581101) or name (米山镇) from areas.yaml
  groups    ";"-separated audience groups (elderly;farmer), may be empty
  language  zh-CN or en (empty: zh-CN)
  voice     1/是/yes: also called (read-out call) for warnings at channels.yaml voice.min_level and above —
            the elderly who do not read SMS, people who asked for calls, responsible persons (empty: no)
Re-importing a file updates residents by phone; an import never re-subscribes someone who opted out.

Organisations' CSV (imported by the organisations module, which owns contact encryption):
  key, name, kind (school|enterprise|coal_mine|community|village), area, contact_name,
  channel (sms|email|wecom|dingtalk|feishu|webhook|notice), address (phone, e-mail or webhook URL),
  secret (webhook signing secret, optional). One row per contact; rows sharing `key` are one organisation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import phonenumbers
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.store.tables import deliveries, residents

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
    voice: bool = False


VOICE_YES = {"1", "yes", "y", "true", "是", "要", "√"}
VOICE_NO = {"", "0", "no", "n", "false", "否", "不要"}


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
        voice = rec.get("voice", "").lower()
        if voice not in VOICE_YES | VOICE_NO:
            row_problems.append(RowProblem(line, "voice", f"{rec.get('voice')!r}: expected 1 (call them) or empty"))
        if phone is not None and phone in seen:
            row_problems.append(RowProblem(line, "phone", f"duplicate of row {seen[phone]}; the later row is skipped"))
        if row_problems:
            problems.extend(row_problems)
            continue
        assert phone is not None and area is not None
        seen[phone] = line
        groups = ";".join(sorted({g.strip() for g in rec.get("groups", "").split(";") if g.strip()}))
        rows.append(ResidentRow(phone, area, rec.get("village") or None, groups, language,
                                rec.get("consent") or "import", voice in VOICE_YES))
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
                                    status="active", created_at=at, updated_at=at, opted_out_how="", voice=r.voice))
            elif (old.area, old.village, old.groups, old.language, bool(old.voice)) != (
                    r.area, r.village, r.groups, r.language, r.voice):
                await conn.execute(update(residents).where(residents.c.id == old.id).values(
                    area=r.area, village=r.village, groups=r.groups, language=r.language, voice=r.voice,
                    updated_at=at))
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


# --- opt-out, opt-in, export and erasure ------------------------------------------------------------

def recipient_keys(resident_id: int | None, phone: str) -> list[str]:
    """Every delivery key a person may appear under (resident, or test phone)."""
    return ([f"r:{resident_id}"] if resident_id is not None else []) + [f"p:{phone}"]


async def opt_out(conn: AsyncConnection, *, phone: str, how: str, at: datetime, actor: str, origin: str) -> bool:
    """Mark a person opted out, stop what is still queued for them, and log it. False if unknown or already out."""
    from alerts.store.deliveries import suppress_queued_for
    from alerts.workflow import audit

    row = (await conn.execute(select(residents.c.id, residents.c.status).where(residents.c.phone == phone))).first()
    changed = row is not None and row.status != "opted_out"
    if changed:
        assert row is not None
        await conn.execute(update(residents).where(residents.c.id == row.id).values(
            status="opted_out", opted_out_at=at, opted_out_how=how[:100], updated_at=at))
    stopped = await suppress_queued_for(conn, recipient_keys(row.id if row else None, phone), now=at,
                                        reason=f"the recipient opted out ({how})")
    await audit.append(conn, at=at, actor=actor, action="recipient.opted_out", target=f"phone:{mask_phone(phone)}",
                       origin=origin, before={"status": row.status if row else None},
                       after={"status": "opted_out" if row else None, "how": how, "stopped_deliveries": stopped,
                              "known": row is not None})
    return changed


async def opt_in(conn: AsyncConnection, *, phone: str, how: str, at: datetime, actor: str, origin: str) -> bool:
    """Re-subscribe someone who opted out (their own request only). False if unknown or already in."""
    from alerts.workflow import audit

    row = (await conn.execute(select(residents.c.id, residents.c.status).where(residents.c.phone == phone))).first()
    changed = row is not None and row.status == "opted_out"
    if changed:
        assert row is not None
        await conn.execute(update(residents).where(residents.c.id == row.id).values(
            status="active", opted_out_at=None, opted_out_how="", consent_at=at, consent_how=how[:100],
            updated_at=at))
    await audit.append(conn, at=at, actor=actor, action="recipient.opted_in", target=f"phone:{mask_phone(phone)}",
                       origin=origin, before={"status": row.status if row else None},
                       after={"status": "active" if row else None, "how": how, "known": row is not None})
    return changed


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_person(conn: AsyncConnection, phone: str) -> dict[str, object] | None:
    """Everything held about one phone number, for a subject-access request."""
    row = (await conn.execute(select(residents).where(residents.c.phone == phone))).first()
    keys = recipient_keys(row.id if row else None, phone)
    sent = list(await conn.execute(
        select(deliveries.c.id, deliveries.c.message_id, deliveries.c.channel, deliveries.c.state,
               deliveries.c.created_at, deliveries.c.sent_at, deliveries.c.provider_status)
        .where(deliveries.c.recipient_key.in_(keys)).order_by(deliveries.c.id)))
    if row is None and not sent:
        return None
    person = None if row is None else {
        "phone": row.phone, "area": row.area, "village": row.village, "groups": row.groups,
        "language": row.language, "consent_at": _iso(row.consent_at), "consent_how": row.consent_how,
        "status": row.status, "opted_out_at": _iso(row.opted_out_at), "opted_out_how": row.opted_out_how,
        "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
    }
    return {"phone": phone, "resident": person, "deliveries": [
        {"id": d.id, "message_id": d.message_id, "channel": d.channel, "state": d.state,
         "created_at": _iso(d.created_at), "sent_at": _iso(d.sent_at), "provider_status": d.provider_status}
        for d in sent]}


async def forget_person(conn: AsyncConnection, phone: str, *, at: datetime, actor: str, origin: str) -> int:
    """Erase a person: the resident row goes, delivery records keep only a masked number.
    Returns the number of records changed (0: nothing held)."""
    from alerts.workflow import audit

    row = (await conn.execute(select(residents.c.id).where(residents.c.phone == phone))).first()
    keys = recipient_keys(row.id if row else None, phone)
    masked = mask_phone(phone)
    # Queued deliveries must not go out to a number we no longer hold.
    stopped = await conn.execute(update(deliveries).where(and_(deliveries.c.recipient_key.in_(keys),
                                                               deliveries.c.state == "queued"))
                                 .values(state="suppressed", error="the recipient's data was erased", updated_at=at))
    kept = await conn.execute(update(deliveries).where(deliveries.c.recipient_key.in_(keys))
                              .values(address=masked, recipient_key=func.replace(deliveries.c.recipient_key,
                                                                                 phone, masked)))
    removed = 0
    if row is not None:
        removed = int((await conn.execute(delete(residents).where(residents.c.id == row.id))).rowcount or 0)
    total = removed + int(kept.rowcount or 0)
    await audit.append(conn, at=at, actor=actor, action="recipient.forgotten", target=f"phone:{masked}",
                       origin=origin, after={"resident_removed": bool(removed), "deliveries_anonymised":
                                             int(kept.rowcount or 0), "stopped_deliveries": int(stopped.rowcount or 0)})
    return total
