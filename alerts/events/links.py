"""One-click acknowledgement links for IM messages: signed, expiring, no login needed.

A link names one acknowledgement request and the person (or group) it was sent to, with an
expiry, signed with HMAC-SHA256. The key is ALERTS_LINK_SECRET, or else derived from
ALERTS_ENCRYPTION_KEY; with neither set the service offers no links (SMS replies still work).
A link can only acknowledge: it shows nothing beyond the request's own notice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.settings import Secrets


@dataclass(frozen=True)
class LinkClaim:
    request_id: int
    person: str
    expires: datetime


def link_key(secrets: Secrets) -> bytes | None:
    if secrets.link_secret:
        return secrets.link_secret.encode("utf-8")
    if secrets.encryption_key:
        return hmac.new(secrets.encryption_key.encode("utf-8"), b"alerts acknowledgement links", hashlib.sha256).digest()
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode("utf-8"), hashlib.sha256).digest())


def make_token(key: bytes, request_id: int, person: str, *, now: datetime, valid_hours: float) -> str:
    expires = int((now + timedelta(hours=valid_hours)).timestamp())
    payload = f"{request_id}.{_b64(person.encode('utf-8'))}.{expires}"
    return f"{payload}.{_signature(key, payload)}"


def read_token(key: bytes, token: str, *, now: datetime) -> LinkClaim | None:
    """The claim of a genuine, unexpired token; None for anything else (the caller shows one message)."""
    parts = token.split(".")
    if len(parts) != 4 or len(token) > 600:
        return None
    rid, person, expires, signature = parts
    payload = f"{rid}.{person}.{expires}"
    if not hmac.compare_digest(_signature(key, payload), signature):
        return None
    if not rid.isdigit() or not expires.isdigit() or len(rid) > 19:
        return None
    when = datetime.fromtimestamp(int(expires), tz=now.tzinfo)
    if when <= now:
        return None
    try:
        name = _unb64(person).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return LinkClaim(int(rid), name, when)
