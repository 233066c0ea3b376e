"""What every SMS provider client shares: targets, call-level faults, provider ids, the message book."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from alerts.channels.base import Outbound, Outcome, Reconciled
from alerts.channels.sms.templates import Registered
from alerts.recipients import mask_phone
from alerts.store.engine import Database
from alerts.store.tables import messages

TZ = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Target:
    """One delivery of a provider call: the ledger's item and the number, decrypted if it was a contact."""

    item: Outbound
    phone: str  # E.164


NUMBERS = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")


def scrub(text: str) -> str:
    """Provider and library messages can echo numbers (a rejected URL, "invalid number 138…"): masked
    before they reach a log, a problem or a delivery's error."""
    return NUMBERS.sub(lambda m: mask_phone(e164(m.group(0))), text)


class ProviderFault(Exception):
    """A whole call failed for a reason that is not one number's. `kind`:

    - unreachable: the request never reached the provider (nothing can have been sent);
    - failed: the provider answered with an error of its own (5xx, throttled): nothing was sent;
    - ambiguous: no answer in time; the provider may have sent it (reconcile before any resend);
    - account: credentials, balance, signature, permissions: the provider is unusable until fixed;
    - template: this template cannot be sent by this provider (not approved, parameters refused).
    """

    def __init__(self, kind: str, reason: str, *, code: str = "", after: float | None = None):
        reason = scrub(reason)
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.code = code
        self.after = after


@dataclass(frozen=True)
class Message:
    """What a domestic provider needs of a message: its template and the variables as drafted."""

    id: int
    template_id: str
    params: dict[str, str] | None
    text: str
    edited: bool


class Provider(Protocol):
    """One provider behind the SMS channel. `domestic` providers send registered templates only."""

    name: str
    domestic: bool
    max_batch: int

    async def send_group(self, registered: Registered | None, message: Message,
                         targets: list[Target]) -> list[Outcome]: ...

    async def reconcile(self, target: Target, registered: Registered | None, *, since: datetime) -> Reconciled: ...

    async def close(self) -> None: ...


def mainland(phone: str) -> str | None:
    """The 11-digit national number of a mainland mobile (+86 1xx...), else None."""
    digits = phone[3:] if phone.startswith("+86") else None
    if digits and len(digits) == 11 and digits.isdigit() and digits.startswith("1"):
        return digits
    return None


def e164(number: str) -> str:
    """A number as providers report it (13800138000, 8613800138000, +8613800138000) in E.164."""
    n = number.strip().replace(" ", "")
    if n.startswith("+"):
        return n
    if n.startswith("0086"):
        return "+" + n[2:]
    if n.startswith("86") and len(n) == 13:
        return "+" + n
    if len(n) == 11 and n.startswith("1"):
        return "+86" + n
    return n


def phone_tag(phone: str) -> str:
    """A short stable tag of a number: one provider id covers a whole call (Aliyun's BizId), so the
    delivery's id adds this to tell its recipient apart without storing the number again."""
    return hashlib.sha256(e164(phone).encode()).hexdigest()[:12]


def aliyun_id(biz_id: str, phone: str) -> str:
    return f"aliyun:{biz_id}:{phone_tag(phone)}"


def tencent_id(serial_no: str) -> str:
    return f"tencent:{serial_no}"


def seconds_to_midnight(now: datetime | None = None) -> float:
    """Daily limits reset at local midnight (Asia/Shanghai)."""
    local = (now or datetime.now(UTC)).astimezone(TZ)
    tomorrow = (local + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    return max(60.0, (tomorrow - local).total_seconds())


class MessageBook:
    """Message id → template id and variables, read once per message (a warning to 450,000 residents
    is one message): the worker hands channels rendered texts only."""

    def __init__(self, db: Database | str, *, size: int = 2048):
        self._db = db if isinstance(db, Database) else None
        self._url = db if isinstance(db, str) else None
        self._cache: OrderedDict[int, Message] = OrderedDict()
        self._size = size

    def database(self) -> Database:
        if self._db is None:
            assert self._url
            self._db = Database(self._url)
        return self._db

    async def get_many(self, ids: set[int]) -> dict[int, Message]:
        out = {i: self._cache[i] for i in ids if i in self._cache}
        missing = ids - set(out)
        if missing:
            async with self.database().read() as conn:
                rows = await conn.execute(select(messages.c.id, messages.c.template_id, messages.c.params,
                                                 messages.c.text, messages.c.edited)
                                          .where(messages.c.id.in_(missing)))
                for r in rows:
                    params = {str(k): str(v) for k, v in (r.params or {}).items()} if r.params is not None else None
                    out[r.id] = self._cache[r.id] = Message(r.id, r.template_id, params, r.text, bool(r.edited))
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return out

    async def close(self) -> None:
        if self._url is not None and self._db is not None:
            await self._db.close()
            self._db = None


def describe(exc: BaseException) -> str:
    return scrub(f"{exc.__class__.__name__}: {exc}")[:300]


def split(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
