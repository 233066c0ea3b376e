"""Organisations and their contacts: CSV import with a report, encrypted addresses, resolution at send time."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.areas import Areas
from alerts.channels.webhook import TargetError, validate_webhook_url
from alerts.crypto import Cipher, EncryptionKeyError, mask_address
from alerts.recipients import ImportReport, RowProblem, normalise_phone
from alerts.store.engine import Database
from alerts.store.tables import contacts, organisations

REQUIRED_COLUMNS = ("key", "name", "kind", "area", "contacts")
# family / volunteer_team: the 五进 audiences reached through 妇联 and 科技志愿服务队; media: newsrooms
# groups; department: a member department's duty group (departments.yaml groups).
KINDS = ("school", "enterprise", "coal_mine", "community", "village", "family", "volunteer_team", "media",
         "department")
CONTACT_CHANNELS = ("sms", "email", "wecom", "dingtalk", "feishu", "webhook", "notice")
WEBHOOK_CHANNELS = ("wecom", "dingtalk", "feishu", "webhook")
KIND_ZH = {"school": "学校", "enterprise": "企业", "coal_mine": "煤矿", "community": "社区", "village": "村",
           "family": "家庭", "volunteer_team": "科技志愿服务队", "media": "媒体", "department": "成员单位"}
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
CONTACTS_HELP = ("contacts are written 'channel:address', several separated by ';' or new lines, each "
                 "optionally followed by '|secret=...' and '|name=...', e.g. "
                 "'wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...; email:head@school.example.cn'")


@dataclass
class ContactRow:
    channel: str
    address: str
    secret: str | None = None
    name: str = ""

    @property
    def hint(self) -> str:
        return mask_address(self.channel, self.address)


@dataclass
class OrganisationRow:
    key: str
    name: str
    kind: str
    area: str
    status: str
    contacts: list[ContactRow] = field(default_factory=list)


@dataclass
class OrganisationReport(ImportReport):
    contacts_added: int = 0
    contacts_updated: int = 0
    contacts_removed: int = 0


def parse_contacts(text: str, *, line: int, allow_http_hosts: Iterable[str] = ()) -> tuple[list[ContactRow], list[RowProblem]]:
    """Parse and validate one cell of contacts. Problems never repeat a secret or a full URL."""
    rows: list[ContactRow] = []
    problems: list[RowProblem] = []
    allow = tuple(allow_http_hosts)
    for n, raw in enumerate((p.strip() for p in re.split(r"[;\n]", text)), start=1):
        if not raw:
            continue
        where = f"contacts[{n}]"
        channel, colon, rest = raw.partition(":")
        channel = channel.strip().lower()
        if not colon or channel not in CONTACT_CHANNELS:
            problems.append(RowProblem(line, where, f"starts with {channel[:20]!r}: expected "
                                       f"'{'|'.join(CONTACT_CHANNELS)}:address' — {CONTACTS_HELP}"))
            continue
        address, *options = [x.strip() for x in rest.split("|")]
        contact = ContactRow(channel, address)
        bad_option = False
        for opt in options:
            name, eq, value = opt.partition("=")
            if eq and name.strip() == "secret" and value.strip():
                contact.secret = value.strip()
            elif eq and name.strip() == "name":
                contact.name = value.strip()[:100]
            else:
                problems.append(RowProblem(line, where, f"unknown option {name.strip()[:20]!r}: use '|secret=...' or '|name=...'"))
                bad_option = True
        if bad_option:
            continue
        problem = _check_address(contact, allow)
        if problem:
            problems.append(RowProblem(line, f"{where} ({channel})", problem))
            continue
        rows.append(contact)
    return rows, problems


def _check_address(c: ContactRow, allow_http_hosts: tuple[str, ...]) -> str | None:
    if c.channel == "sms":
        phone = normalise_phone(c.address)
        if phone is None:
            return f"{c.address[:30]!r} is not a valid phone number"
        c.address = phone
    elif c.channel == "email":
        if len(c.address) > 254 or not _EMAIL.match(c.address):
            return f"{c.address[:60]!r} is not an e-mail address like name@school.example.cn"
    elif c.channel in WEBHOOK_CHANNELS:
        problem = validate_webhook_url(c.address, allow_http_hosts)
        if problem:
            return f"robot URL {c.hint}: {problem}"
        if c.channel == "webhook" and not c.secret:
            return "a generic webhook needs '|secret=...' so the receiver can check the HMAC signature"
        if c.channel == "dingtalk" and c.secret and not c.secret.startswith("SEC"):
            return "a DingTalk signing secret starts with 'SEC' (copy it from the robot's security settings)"
    elif c.channel == "notice":
        if not c.address or len(c.address) > 100:
            return "name the notice board's place, e.g. 'notice:村委会宣传栏' (at most 100 characters)"
    if c.secret and c.channel not in ("dingtalk", "feishu", "webhook"):
        return f"a secret is only used by dingtalk, feishu and webhook contacts, not {c.channel}"
    return None


def parse_organisations_csv(text: str, areas: Areas, *, allow_http_hosts: Iterable[str] = ()
                            ) -> tuple[list[OrganisationRow], list[RowProblem]]:
    """Validate every row; a row with any problem is reported and skipped as a whole."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        return [], [RowProblem(1, ",".join(missing), f"missing column(s); the header needs {', '.join(REQUIRED_COLUMNS)} "
                                                     "(status optional: active or inactive)")]
    rows: list[OrganisationRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(reader, start=2):
        rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        found: list[RowProblem] = []
        key = rec.get("key", "")
        if not key or len(key) > 100:
            found.append(RowProblem(line, "key", "required, at most 100 characters (your own id, kept across imports)"))
        elif key in seen:
            found.append(RowProblem(line, "key", f"{key!r} repeats row {seen[key]}; the later row is skipped"))
        name = rec.get("name", "")
        if not name or len(name) > 200:
            found.append(RowProblem(line, "name", "required, at most 200 characters"))
        kind = rec.get("kind", "").lower()
        if kind not in KINDS:
            found.append(RowProblem(line, "kind", f"{kind[:30]!r}: expected one of {', '.join(KINDS)}"))
        area = areas.code_for(rec.get("area", ""))
        if area is None:
            found.append(RowProblem(line, "area", f"{rec.get('area', '')[:30]!r} is not a township code or name in areas.yaml"))
        status = (rec.get("status") or "active").lower()
        if status not in ("active", "inactive"):
            found.append(RowProblem(line, "status", f"{status[:20]!r}: expected active or inactive"))
        contact_rows, contact_problems = parse_contacts(rec.get("contacts", ""), line=line,
                                                        allow_http_hosts=allow_http_hosts)
        found.extend(contact_problems)
        hints: dict[tuple[str, str], int] = {}
        for i, c in enumerate(contact_rows, start=1):
            if (c.channel, c.hint) in hints:
                found.append(RowProblem(line, f"contacts[{i}]", f"same {c.channel} contact as contacts[{hints[(c.channel, c.hint)]}]"))
            hints[(c.channel, c.hint)] = i
        if found:
            problems.extend(found)
            continue
        assert area is not None
        seen[key] = line
        rows.append(OrganisationRow(key, name, kind, area, status, contact_rows))
    return rows, problems


async def upsert_organisations(conn: AsyncConnection, rows: Iterable[OrganisationRow], *, cipher: Cipher,
                               at: datetime, report: OrganisationReport) -> None:
    """Add new organisations, update changed ones; each one's contacts become exactly the file's."""
    for row in rows:
        old = (await conn.execute(select(organisations).where(organisations.c.key == row.key))).first()
        if old is None:
            result = await conn.execute(organisations.insert().values(
                key=row.key, name=row.name, kind=row.kind, area=row.area, status=row.status, created_at=at,
                updated_at=at))
            org_id = int(result.inserted_primary_key[0])
            org_changed = True
            report.added += 1
        else:
            org_id = int(old.id)
            org_changed = (old.name, old.kind, old.area, old.status) != (row.name, row.kind, row.area, row.status)
            if org_changed:
                await conn.execute(update(organisations).where(organisations.c.id == org_id).values(
                    name=row.name, kind=row.kind, area=row.area, status=row.status, updated_at=at))
        contacts_changed = await _sync_contacts(conn, org_id, row.contacts, cipher, report)
        if old is not None:
            if org_changed or contacts_changed:
                report.updated += 1
            else:
                report.unchanged += 1


async def _sync_contacts(conn: AsyncConnection, org_id: int, wanted: list[ContactRow], cipher: Cipher,
                         report: OrganisationReport) -> bool:
    existing = list(await conn.execute(select(contacts).where(contacts.c.organisation_id == org_id)))
    by_identity: dict[tuple[str, str], Any] = {}
    for r in existing:
        by_identity[(r.channel, cipher.decrypt(r.address_enc))] = r
    changed = False
    keep: set[int] = set()
    for c in wanted:
        old = by_identity.get((c.channel, c.address))
        if old is None:
            await conn.execute(contacts.insert().values(
                organisation_id=org_id, name=c.name, channel=c.channel, address_enc=cipher.encrypt(c.address),
                address_hint=c.hint, secret_enc=cipher.encrypt(c.secret) if c.secret else None))
            report.contacts_added += 1
            changed = True
            continue
        keep.add(int(old.id))
        old_secret = cipher.decrypt(old.secret_enc) if old.secret_enc else None
        if (old.name, old_secret, old.address_hint) != (c.name, c.secret, c.hint):
            await conn.execute(update(contacts).where(contacts.c.id == old.id).values(
                name=c.name, address_hint=c.hint, secret_enc=cipher.encrypt(c.secret) if c.secret else None))
            report.contacts_updated += 1
            changed = True
    gone = [int(r.id) for r in existing if int(r.id) not in keep]
    if gone:
        # Queued deliveries to a removed contact fail with a clear reason when their turn comes.
        await conn.execute(delete(contacts).where(contacts.c.id.in_(gone)))
        report.contacts_removed += len(gone)
        changed = True
    return changed


# --- resolution at send time ------------------------------------------------------------------

@dataclass(frozen=True)
class Contact:
    id: int
    channel: str
    address: str
    secret: str | None
    name: str
    hint: str
    organisation: str

    def __repr__(self) -> str:  # address and secret stay out of any repr
        return f"Contact(id={self.id}, channel={self.channel}, hint={self.hint!r})"


class ContactBook:
    """Turns a delivery address `contact:<id>` into the decrypted contact, only when sending."""

    def __init__(self, db: Database | str, cipher: Cipher | None):
        # A URL opens a database of its own on first use (channels built before the service's).
        self._db = db if isinstance(db, Database) else None
        self._url = db if isinstance(db, str) else None
        self.cipher = cipher

    def database(self) -> Database:
        if self._db is None:
            assert self._url
            self._db = Database(self._url)
        return self._db

    async def close(self) -> None:
        if self._url is not None and self._db is not None:
            await self._db.close()
            self._db = None

    async def resolve(self, address: str) -> Contact:
        prefix, _, ident = address.partition(":")
        if prefix != "contact" or not ident.isdigit():
            raise TargetError(f"address {address[:40]!r} is not a contact reference (contact:<id>)")
        if self.cipher is None:
            raise TargetError("ALERTS_ENCRYPTION_KEY is not set, so stored contacts cannot be read")
        async with self.database().read() as conn:
            row = (await conn.execute(
                select(contacts, organisations.c.name.label("org_name"))
                .join(organisations, organisations.c.id == contacts.c.organisation_id)
                .where(contacts.c.id == int(ident)))).first()
        if row is None:
            raise TargetError(f"contact {ident} no longer exists (removed by a later organisation import)")
        try:
            return Contact(id=int(row.id), channel=row.channel, address=self.cipher.decrypt(row.address_enc),
                           secret=self.cipher.decrypt(row.secret_enc) if row.secret_enc else None, name=row.name,
                           hint=row.address_hint, organisation=row.org_name)
        except EncryptionKeyError as exc:
            raise TargetError(str(exc)) from None

    async def robot(self, address: str) -> Any:
        """The webhook channel's resolver."""
        from alerts.channels.webhook import Target

        c = await self.resolve(address)
        return Target(url=c.address, secret=c.secret, hint=f"{c.organisation} {c.hint}")


# --- what a draft will reach ------------------------------------------------------------------

@dataclass
class Reach:
    organisation: str
    kind: str
    area: str
    channels: list[str]  # "wecom …a1b2", "email z***@school.cn"


async def reach(conn: AsyncConnection, *, kinds: Iterable[str], areas: Iterable[str],
                contact_channels: Iterable[str]) -> list[Reach]:
    """Per organisation, the contacts (masked) a message to these kinds, areas and channels reaches."""
    rows = await conn.execute(
        select(organisations.c.name, organisations.c.kind, organisations.c.area, contacts.c.channel,
               contacts.c.address_hint)
        .join(contacts, contacts.c.organisation_id == organisations.c.id)
        .where(and_(organisations.c.kind.in_(list(kinds)), organisations.c.status == "active",
                    organisations.c.area.in_(list(areas)), contacts.c.channel.in_(list(contact_channels))))
        .order_by(organisations.c.area, organisations.c.name, contacts.c.channel)
    )
    found: dict[str, Reach] = {}
    for r in rows:
        entry = found.setdefault(r.name, Reach(r.name, r.kind, r.area, []))
        entry.channels.append(f"{r.channel} {r.address_hint}")
    return list(found.values())


async def reach_for_draft(conn: AsyncConnection, draft_id: int) -> dict[int, list[Reach]]:
    """Per message of a draft (by message id): the organisations and masked contacts it will reach.

    Uses the fan-out's own tables of audiences and channels, so what is shown is what is sent.
    """
    from alerts.outbox.fanout import ORG_AUDIENCES, contact_channels
    from alerts.store.tables import messages

    found: dict[int, list[Reach]] = {}
    rows = list(await conn.execute(select(messages).where(messages.c.draft_id == draft_id).order_by(messages.c.id)))
    im_audiences = {m.audience for m in rows if m.channel == "im"}
    for m in rows:
        if m.audience in ORG_AUDIENCES:
            found[int(m.id)] = await reach(conn, kinds=ORG_AUDIENCES[m.audience], areas=list(m.areas or []),
                                           contact_channels=contact_channels(m.channel, m.audience, im_audiences))
    return found
