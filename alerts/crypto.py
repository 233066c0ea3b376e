"""Encryption at rest of contact addresses and webhook secrets, and the masks people see instead."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from alerts.settings import ConfigError, Secrets
from alerts.store.engine import Database
from alerts.store.tables import contacts

log = logging.getLogger("alerts.crypto")
KEY_ENV = "ALERTS_ENCRYPTION_KEY"
HOW_TO_MAKE_A_KEY = (
    f"set {KEY_ENV} to a Fernet key, e.g. the output of "
    "`python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`, "
    "and keep it with the database backups (without it stored contacts cannot be read)"
)


class EncryptionKeyError(ValueError):
    """The encryption key is missing, malformed, or not the one the data was encrypted with."""


class Cipher:
    """Encrypts short strings (URLs, e-mail addresses, secrets) to text that is safe to store."""

    def __init__(self, key: str):
        try:
            self._fernet = Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise EncryptionKeyError(f"{KEY_ENV} is not a valid Fernet key (32 url-safe base64 bytes); "
                                     + HOW_TO_MAKE_A_KEY) from None

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError, UnicodeDecodeError):
            raise EncryptionKeyError(f"a stored contact cannot be decrypted with the current {KEY_ENV}: "
                                     "the key was changed or the data is damaged; restore the key it "
                                     "was stored with") from None

    def __repr__(self) -> str:  # never print the key
        return "Cipher(<key hidden>)"


def cipher_from(secrets: Secrets) -> Cipher | None:
    """The cipher for the configured key, None when no key is set; a malformed key is an error."""
    if not secrets.encryption_key:
        return None
    return Cipher(secrets.encryption_key)


async def check_key_for_contacts(db: Database, secrets: Secrets) -> None:
    """Start-up check: stored contacts need the key; raise ConfigError saying what to do."""
    try:
        async with db.read() as conn:
            count = int((await conn.execute(select(func.count()).select_from(contacts))).scalar_one())
    except (DBAPIError, OSError) as exc:
        # Not migrated yet (nothing stored) or not reachable: start-up reports that on its own.
        log.debug("contact key check skipped: %s", exc.__class__.__name__)
        return
    if count == 0:
        return
    if not secrets.encryption_key:
        raise ConfigError([f"{KEY_ENV}: not set, but the database holds {count} organisation contact(s) "
                           f"whose addresses are encrypted — {HOW_TO_MAKE_A_KEY}"])
    cipher = Cipher(secrets.encryption_key)
    async with db.read() as conn:
        sample = (await conn.execute(select(contacts.c.address_enc).limit(1))).scalar_one()
    try:
        cipher.decrypt(sample)
    except EncryptionKeyError as exc:
        raise ConfigError([f"{KEY_ENV}: {exc}"]) from None


# --- masks: what logs, the console and the API show instead of a secret ----------------------

def mask_url(url: str) -> str:
    """https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a1b2… → scheme, host and a prefix of the key.

    The path and query of a robot URL carry its key, so they are never shown; the key's first four
    characters tell two robots of one organisation apart. A prefix, not the tail: keys and tokens
    often end in what a log or screenshot elsewhere shows, and a prefix is what issuers print too.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    values = [v for _k, v in parse_qsl(parts.query, keep_blank_values=True) if v]
    secret = values[-1] if values else parts.path.rstrip("/").rsplit("/", 1)[-1]
    prefix = f"{secret[:4]}…" if len(secret) >= 12 else ""
    return f"{parts.scheme}://{host}{port}/…{prefix}"


def mask_email(address: str) -> str:
    """zhang.san@school.example.cn → z***@school.example.cn."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_address(channel: str, address: str) -> str:
    """The display hint for a contact address of a given contact channel."""
    if channel in ("wecom", "dingtalk", "feishu", "webhook"):
        return mask_url(address)
    if channel == "email":
        return mask_email(address)
    if channel == "sms":
        from alerts.recipients import mask_phone

        return mask_phone(address)
    return address[:40]  # a notice board's place is not a secret
