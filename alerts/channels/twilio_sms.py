"""SMS through Twilio with the official library's aiohttp client: account faults pause, per-number
errors end or retry one delivery, Retry-After is honoured, ValidityPeriod follows the warning's end,
and an in-doubt delivery is looked up in Twilio's message list before it is sent again."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

import aiohttp
from twilio.base import deserialize as twilio_deserialize
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from alerts.channels import twilio_codes
from alerts.channels.base import (
    Found,
    NotFound,
    Ok,
    Outbound,
    Outcome,
    Pace,
    Paused,
    Permanent,
    Reconciled,
    Retry,
    Unknowable,
    sms_number,
    with_signature,
)
from alerts.clock import Clock
from alerts.outbox.ratelimit import SenderPool
from alerts.recipients import mask_phone

log = logging.getLogger("alerts.channels.twilio")

# Every Message the library builds parses three RFC 2822 dates; at hundreds of messages a second the
# strings repeat (they change once a second), so the library's parser, a pure function of the string,
# is memoised once here instead of run three times per message.
if not hasattr(twilio_deserialize.rfc2822_datetime, "cache_info"):
    twilio_deserialize.rfc2822_datetime = functools.lru_cache(maxsize=1024)(twilio_deserialize.rfc2822_datetime)

# Twilio keeps a message at most this long in its queue (its own ceiling for ValidityPeriod).
MAX_VALIDITY_SECONDS = 36_000
# How far before the in-doubt request a message found in Twilio's list may have been created
# (the two clocks differ a little); the body must match as well.
RECONCILE_SKEW = timedelta(minutes=2)
# Retry-After of the answer being handled (set inside the request, read by the send that awaited it).
_RETRY_AFTER: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("twilio_retry_after", default=None)


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
        self._quoted: dict[str, str] = {}
        self._rebased: dict[str, str] = {}
        self._default_timeout = aiohttp.ClientTimeout(total=timeout)

    def rebase(self, url: str) -> str:
        if self._base is None:
            return url
        done = self._rebased.get(url)  # the same few URLs (one per account and resource) every time
        if done is None:
            if len(self._rebased) > 256:
                self._rebased.clear()
            done = self._rebased[url] = self._rebase(url)
        return done

    def _rebase(self, url: str) -> str:
        assert self._base is not None
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
        """The library's request, done directly on the shared session (the stock client also builds
        test-only copies of every request and response)."""
        self._ensure_session()
        assert self.session is not None
        body: bytes | None = None
        if isinstance(data, dict) and method.upper() in ("POST", "PUT"):
            body = self._encode(data)
        if auth is not None:
            # The header once per credential pair, instead of aiohttp's BasicAuth per request.
            if self._auth_for != auth:
                self._auth_header = aiohttp.encode_basic_auth(auth[0], auth[1])
                self._auth_for = auth
            headers = {**(headers or {}), "Authorization": self._auth_header}
        if body is not None:
            headers = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        query = {k: v for k, v in (params or {}).items() if v is not None}
        async with self.session.request(method.upper(), self.rebase(url), params=query or None, data=body,
                                        headers=headers, allow_redirects=allow_redirects,
                                        timeout=self._timeout_for(timeout)) as response:
            text = await response.text()
            if response.status >= 400:
                holder = _RETRY_AFTER.get()
                if holder is not None and "Retry-After" in response.headers:
                    holder.append(response.headers["Retry-After"])
            return Response(response.status, text, response.headers)

    def _timeout_for(self, seconds: float | None) -> aiohttp.ClientTimeout:
        if not seconds or seconds == self.timeout:
            return self._default_timeout
        return aiohttp.ClientTimeout(total=seconds)

    def _encode(self, data: dict[str, object]) -> bytes:
        """Form-encode, remembering the encoding of texts: the same for thousands of messages, and
        quoting Chinese text is the costly part."""
        parts = []
        cache = self._quoted
        for key, value in data.items():
            if value is None:
                continue
            text = str(value)
            quoted = cache.get(text)
            if quoted is None:
                quoted = quote_plus(text)
                # Texts repeat and cost most (every Chinese character becomes nine bytes); numbers and
                # callback URLs are ASCII and differ each time.
                if not text.isascii():
                    if len(cache) > 64:
                        cache.clear()
                    cache[text] = quoted
            parts.append(f"{key}={quoted}" if key.isalnum() else f"{quote_plus(key)}={quoted}")
        return "&".join(parts).encode()

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


def _seconds(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(float(value.strip()), 3600.0)
    return None


def classify(exc: BaseException, *, retry_after: str | None = None, sender: str = "") -> Outcome:
    """Map what the library raised: account faults pause (the channel, or this sender), per-number
    errors end or retry this delivery, server errors and timeouts retry."""
    after = _seconds(retry_after)
    if isinstance(exc, TwilioRestException):
        code = int(exc.code) if exc.code is not None else None
        label = str(code) if code is not None else f"http_{exc.status}"
        msg = (exc.msg or "").strip()[:200]
        known = twilio_codes.meaning(code)
        if known is None and exc.status == 429:
            known = twilio_codes.ACCOUNT[20429]
        if known is not None and known.action.startswith("pause"):
            return Paused(reason=f"Twilio {label}: {known.reason} ({msg})", after=after or known.pause_seconds,
                          code=label, sender=sender if known.action == "pause_sender" else "",
                          problem=known.problem, todo=known.todo, severity=known.severity)
        if known is not None and known.action == "permanent":
            return Permanent(reason=f"Twilio {code}: {known.reason} ({msg})", code=label)
        if known is not None:
            return Retry(reason=f"Twilio {code}: {known.reason} ({msg})", after=after, code=label)
        if exc.status >= 500:
            return Retry(reason=f"Twilio HTTP {exc.status}: {msg or 'server error'}", after=after, code=label)
        return Permanent(reason=f"Twilio HTTP {exc.status} {label}: {msg or 'request refused'}", code=label)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return Retry(reason="Twilio did not answer in time", code="timeout")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Retry(reason=f"cannot reach Twilio: {exc.__class__.__name__}", code="connection")
    return Retry(reason=f"{exc.__class__.__name__}: {exc}"[:300], code="error")


def validity_seconds(expires_at: datetime | None, now: datetime) -> int | None:
    """Twilio's ValidityPeriod: the provider drops the message rather than deliver it after the
    warning ends. None when the warning has no end (Twilio's own default, 10 hours, applies)."""
    if expires_at is None:
        return None
    left = int((expires_at - now).total_seconds())
    return max(1, min(MAX_VALIDITY_SECONDS, left))


class TwilioSmsChannel:
    name = "sms"

    def __init__(self, *, account_sid: str, auth_token: str, messaging_service_sid: str | None,
                 senders: Sequence[str], status_callback_base: str | None, api_base_url: str | None,
                 messages_per_second: float, burst: int, concurrency: int, timeout: float, signature: str = "",
                 contacts: Any | None = None, clock: Clock | None = None):
        if not messaging_service_sid and not senders:
            raise ValueError("Twilio needs TWILIO_MESSAGING_SERVICE_SID or TWILIO_FROM (a sender number)")
        self.messaging_service_sid = messaging_service_sid
        self.signature = signature
        self.contacts = contacts  # organisations' SMS contacts, decrypted at send time
        self.clock = clock or Clock()  # for the time left until a warning ends (ValidityPeriod)
        self.http = RebasedHttpClient(api_base_url, timeout=timeout, connections=concurrency)
        self.client = CachingClient(account_sid, auth_token, http_client=self.http)
        # With a Messaging Service, Twilio picks the number; the service as a whole is one sender.
        self._senders = [messaging_service_sid] if messaging_service_sid else list(senders)
        self._pace = Pace(messages_per_second, burst)
        # Used only when a caller names no sender; the outbox worker paces through the shared budget.
        self.pool = SenderPool(self._senders, messages_per_second, burst)
        self.status_callback_base = status_callback_base.rstrip("/") if status_callback_base else None

    def sender_paces(self) -> dict[str, Pace]:
        return {s: self._pace for s in self._senders}

    def status_callback(self, delivery_id: int) -> str | None:
        # The delivery id rides along so that a callback racing the send's own record still finds it.
        if self.status_callback_base is None:
            return None
        return f"{self.status_callback_base}/hooks/twilio/status?d={delivery_id}"

    async def send(self, item: Outbound) -> Outcome:
        to = await sms_number(item, self.contacts)
        if isinstance(to, Permanent):
            return to
        sender = item.sender if item.sender in self._senders else await self.pool.take()
        kwargs: dict[str, Any] = {"to": to, "body": with_signature(item.text, self.signature),
                                  "status_callback": self.status_callback(item.delivery_id)}
        validity = validity_seconds(item.expires_at, self.clock.now())
        if validity is not None:
            kwargs["validity_period"] = validity
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = sender
        else:
            kwargs["from_"] = sender
        holder: list[str] = []
        token = _RETRY_AFTER.set(holder)
        try:
            message = await self.client.messages.create_async(**kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes
            outcome = classify(exc, retry_after=holder[-1] if holder else None, sender=sender)
            log.info("twilio: delivery %s to %s: %s", item.delivery_id, mask_phone(to), outcome)
            return outcome
        finally:
            _RETRY_AFTER.reset(token)
        return Ok(provider_id=message.sid or "", provider_status=message.status or "queued")

    async def reconcile(self, item: Outbound, *, since: datetime) -> Reconciled:
        """Did Twilio get this in-doubt message? Its message list, filtered by recipient and by the date
        sent, then (for one still in Twilio's queue, not yet sent, so without a date) the recipient's
        latest messages; a match has the same text and was created after the in-doubt request began.
        Errors propagate: the worker tries the lookup again later rather than guess."""
        to = await sms_number(item, self.contacts)
        if isinstance(to, Permanent):
            return NotFound()  # the number could not be read then either: nothing was sent
        body = with_signature(item.text, self.signature)
        after = since - RECONCILE_SKEW
        try:
            for query in ({"to": to, "date_sent_after": after}, {"to": to}):
                for message in await self.client.messages.list_async(**query, limit=20, page_size=20):
                    created = message.date_created
                    if message.body == body and (created is None or created >= after):
                        return Found(provider_id=message.sid or "", provider_status=message.status or "sent")
        except TwilioException as exc:
            # The list pages raise a bare TwilioException carrying the response; others carry a status.
            status = getattr(exc, "status", None) or next(
                (a.status_code for a in exc.args if isinstance(a, Response)), 0)
            if not status or status >= 500 or status == 429:
                raise  # busy or down: asked again later
            # Refused for good (no such list here, no permission): Twilio cannot tell us.
            return Unknowable(f"Twilio refused the message lookup: HTTP {status}")
        return NotFound()

    async def close(self) -> None:
        await self.http.close()
        if self.contacts is not None:
            await self.contacts.close()
