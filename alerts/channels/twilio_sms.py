"""SMS through Twilio with the official library's aiohttp client; errors mapped to retry or permanent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from alerts.channels.base import Ok, Outbound, Outcome, Permanent, Retry, sms_number, with_signature
from alerts.outbox.ratelimit import SenderPool
from alerts.recipients import mask_phone

log = logging.getLogger("alerts.channels.twilio")

# Twilio error codes that retrying cannot fix: invalid "To", unsubscribed recipient, not a mobile
# number, unreachable region, blocked content. Any other 4xx is permanent too (our request is wrong).
PERMANENT_CODES = {21211: "invalid phone number", 21610: "the recipient replied STOP (unsubscribed)",
                   21614: "not a mobile number", 21408: "region not enabled for this account",
                   21612: "cannot route to this number", 30007: "blocked as spam by the carrier"}
RETRY_CODES = {20429: "too many concurrent requests", 20503: "service temporarily unavailable"}


class RebasedHttpClient(AsyncTwilioHttpClient):
    """The library's aiohttp client, with one shared keep-alive session and every request's scheme
    and host replaced by a configured base URL (a regional proxy, or a test server).

    The library's Client has no base-URL option for its domains (api.twilio.com is built into the
    generated code), so the one clean seam is the HTTP client every request passes through.
    """

    def __init__(self, base_url: str | None, *, timeout: float, connections: int):
        super().__init__(pool_connections=False, timeout=timeout)
        base = urlsplit(base_url) if base_url else None
        if base is not None and (base.scheme not in ("http", "https") or not base.netloc):
            raise ValueError(f"ALERTS_TWILIO_API_BASE_URL: {base_url!r} — expected http(s)://host[:port][/prefix]")
        self._base = base
        self._connections = connections
        self._auth_for: tuple[str, str] | None = None
        self._auth_header = ""

    def rebase(self, url: str) -> str:
        if self._base is None:
            return url
        parts = urlsplit(url)
        prefix = self._base.path.rstrip("/")
        return urlunsplit((self._base.scheme, self._base.netloc, prefix + parts.path, parts.query, ""))

    def _ensure_session(self) -> None:
        # Created inside the running event loop, once: every request reuses its connections.
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=60)
            self.session = aiohttp.ClientSession(connector=connector,
                                                 timeout=aiohttp.ClientTimeout(total=self.timeout))

    async def request(self, method: str, url: str, params: dict[str, object] | None = None,  # type: ignore[override]
                      data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                      auth: tuple[str, str] | None = None, timeout: float | None = None,
                      allow_redirects: bool = False) -> Response:
        self._ensure_session()
        if isinstance(data, dict) and method.upper() in ("POST", "PUT"):
            # Encoded here in one call: aiohttp would build a multipart-capable FormData per request
            # (a uuid, a writer, a check per field) only to produce these same bytes.
            data = urlencode(data, doseq=True).encode()  # type: ignore[assignment]
        if auth is not None:
            # The header once per credential pair, instead of aiohttp's deprecated BasicAuth per request.
            if self._auth_for != auth:
                self._auth_header = aiohttp.encode_basic_auth(auth[0], auth[1])
                self._auth_for = auth
            headers = {**(headers or {}), "Authorization": self._auth_header}
        return await super().request(method, self.rebase(url), params=params, data=data, headers=headers,
                                     auth=None, timeout=timeout or self.timeout, allow_redirects=allow_redirects)

    # The library logs every request and response at INFO, formatting eagerly; our shared send
    # wrapper already logs each outcome (with the phone masked), so these stay quiet.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        return None

    def log_response(self, status_code: int, response: Any) -> None:
        return None


class CachingClient(Client):
    """The library's Client, with its constant request headers computed once per header set: the
    stock version asks the platform module for the OS, machine and Python version on every request."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._header_cache: dict[tuple[str, frozenset[tuple[str, str]]], dict[str, str]] = {}

    def get_headers(self, method: str, headers: dict[str, str] | None) -> dict[str, str]:
        key = (method, frozenset((headers or {}).items()))
        cached = self._header_cache.get(key)
        if cached is None:
            cached = self._header_cache[key] = super().get_headers(method, dict(headers or {}))
        return dict(cached)  # the caller adds Authorization to its own copy


def classify(exc: BaseException) -> Outcome:
    """Map what the library raised to retry-after-backoff or a permanent failure."""
    if isinstance(exc, TwilioRestException):
        code = int(exc.code) if exc.code is not None else None
        label = str(code) if code is not None else f"http_{exc.status}"
        msg = (exc.msg or "").strip()[:200]
        if exc.status == 429 or code in RETRY_CODES:
            return Retry(reason=f"Twilio {label}: {RETRY_CODES.get(code or 0, 'rate limited')} ({msg})", code=label)
        if exc.status >= 500:
            return Retry(reason=f"Twilio HTTP {exc.status}: {msg or 'server error'}", code=label)
        if code in PERMANENT_CODES:
            return Permanent(reason=f"Twilio {code}: {PERMANENT_CODES[code]} ({msg})", code=label)
        return Permanent(reason=f"Twilio HTTP {exc.status} {label}: {msg or 'request refused'}", code=label)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Retry(reason="Twilio did not answer in time", code="timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Retry(reason=f"cannot reach Twilio: {exc.__class__.__name__}", code="connection")
    return Retry(reason=f"{exc.__class__.__name__}: {exc}"[:300], code="error")


class TwilioSmsChannel:
    name = "sms"

    def __init__(self, *, account_sid: str, auth_token: str, messaging_service_sid: str | None,
                 senders: Sequence[str], status_callback_base: str | None, api_base_url: str | None,
                 messages_per_second: float, burst: int, concurrency: int, timeout: float, signature: str = "",
                 contacts: Any | None = None):
        if not messaging_service_sid and not senders:
            raise ValueError("Twilio needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM (a sender number)")
        self.messaging_service_sid = messaging_service_sid
        self.signature = signature
        self.contacts = contacts  # organisations' SMS contacts, decrypted at send time
        self.http = RebasedHttpClient(api_base_url, timeout=timeout, connections=concurrency)
        self.client = CachingClient(account_sid, auth_token, http_client=self.http)
        # With a Messaging Service, Twilio picks the number; the service as a whole is one sender.
        self.pool = SenderPool([messaging_service_sid] if messaging_service_sid else list(senders),
                               messages_per_second, burst)
        self.status_callback_base = status_callback_base.rstrip("/") if status_callback_base else None

    def status_callback(self, delivery_id: int) -> str | None:
        # The delivery id rides along so that a callback racing the send's own record still finds it.
        if self.status_callback_base is None:
            return None
        return f"{self.status_callback_base}/hooks/twilio/status?d={delivery_id}"

    async def send(self, item: Outbound) -> Outcome:
        to = await sms_number(item, self.contacts)
        if isinstance(to, Permanent):
            return to
        sender = await self.pool.take()
        kwargs: dict[str, Any] = {"to": to, "body": with_signature(item.text, self.signature),
                                  "status_callback": self.status_callback(item.delivery_id)}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = sender
        else:
            kwargs["from_"] = sender
        try:
            message = await self.client.messages.create_async(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes
            outcome = classify(exc)
            log.info("twilio: delivery %s to %s: %s", item.delivery_id, mask_phone(to), outcome)
            return outcome
        return Ok(provider_id=message.sid or "", provider_status=message.status or "queued")

    async def close(self) -> None:
        await self.http.close()
        if self.contacts is not None:
            await self.contacts.close()
