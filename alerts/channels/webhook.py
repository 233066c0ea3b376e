"""IM group robots: WeCom (企业微信), DingTalk (钉钉), Feishu (飞书) and a generic HMAC-signed JSON webhook.

One channel class, four wire formats. Robots answer rate limits in the JSON body with HTTP 200,
so the body's error code decides, not only the status: a throttle pauses that robot (the outbox paces
each robot below its limit, channels.yaml `robots`, so this is the exception), busy retries. The robot URL (its
path or query holds the robot's key) and the signing secret never appear in a reason or log line:
only `mask_url` does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from alerts.channels.base import Ok, Outbound, Outcome, Paused, Permanent, Retry

log = logging.getLogger("alerts.channels.webhook")

KINDS = ("wecom", "dingtalk", "feishu", "webhook")

# Body error codes that mean "this robot sends too much": the robot (not the message) waits out the
# service's window. WeCom: 45009 api freq out of limit (20 messages/min per robot). DingTalk: 130101
# send too fast (20/min; more earns a 10-minute throttle), 660026 robot rate limited. Feishu: 11232
# frequency limited (100/min, 5/s per robot).
THROTTLE_CODES: dict[str, frozenset[int]] = {
    "wecom": frozenset({45009}),
    "dingtalk": frozenset({130101, 660026}),
    "feishu": frozenset({11232}),
}
# Body codes that mean "busy, try this message again later": WeCom 45033 too many concurrent calls,
# -1 system busy; DingTalk -1 system busy; Feishu 11247 internal rate limit.
RETRY_CODES: dict[str, frozenset[int]] = {
    "wecom": frozenset({45033, -1}),
    "dingtalk": frozenset({-1}),
    "feishu": frozenset({11247}),
}
# How long a throttled robot rests: DingTalk punishes with ten minutes, the others count per minute.
THROTTLE_SECONDS: dict[str, float] = {"wecom": 60.0, "dingtalk": 600.0, "feishu": 60.0}
RETRY_AFTER: dict[str, float] = {"wecom": 60.0, "dingtalk": 60.0, "feishu": 60.0}
KIND_ZH = {"wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书", "webhook": "Webhook"}
# Text limits as documented by each service (bytes of UTF-8).
TEXT_LIMIT_BYTES: dict[str, int] = {"wecom": 2048, "dingtalk": 20_000, "feishu": 20_000, "webhook": 64_000}
WECOM_MARKDOWN_LIMIT = 4096


def validate_webhook_url(url: str, allow_http_hosts: list[str] | tuple[str, ...] = ()) -> str | None:
    """None if the URL may be used, else what is wrong (without echoing the URL: it holds a key)."""
    if not url or len(url) > 2000:
        return "the URL is empty or longer than 2000 characters"
    if any(c.isspace() for c in url):
        return "the URL contains spaces"
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "the URL cannot be parsed"
    if not host:
        return "the URL has no host"
    if parts.username or parts.password:
        return "the URL must not carry a user name or password"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and host in allow_http_hosts:
        return None
    if parts.scheme == "http":
        return (f"plain http to {host} is refused: use https (only hosts listed in notices.yaml "
                "webhooks.allow_http_hosts may use http)")
    return f"scheme {parts.scheme or '(none)'!r} is not allowed: use https"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), before URL encoding."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def generic_signature(secret: str, body: bytes) -> str:
    """Generic webhook: X-Signature: sha256=<hex HMAC-SHA256(key=secret, msg=body)>."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Target:
    """A resolved robot: where to post and how to sign. Never logged."""

    url: str
    secret: str | None
    hint: str


Resolver = Callable[[str], Any]  # async (delivery address) -> Target; raises TargetError


class TargetError(Exception):
    """The address cannot be resolved to a robot (unknown contact, no key...). Permanent."""


@dataclass(frozen=True)
class Request:
    url: yarl.URL
    body: bytes
    headers: dict[str, str]


def message_text(item: Outbound) -> str:
    title = item.title.strip()
    text = f"{title}\n{item.text}" if title and not item.text.startswith(title) else item.text
    return f"【演练】{text}" if item.exercise else text


def build_request(kind: str, target: Target, item: Outbound, *, now: float) -> Request | Permanent:
    """The HTTP request a service documents for one text message, signed when a secret is set."""
    text = message_text(item)
    size = len(text.encode("utf-8"))
    headers = {"Content-Type": "application/json; charset=utf-8"}
    url = target.url
    signed_url = False
    if kind == "wecom":
        if size <= TEXT_LIMIT_BYTES["wecom"]:
            payload: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        elif size <= WECOM_MARKDOWN_LIMIT:
            # Longer texts fit the markdown message type (4096 bytes); plain text reads the same.
            payload = {"msgtype": "markdown", "markdown": {"content": text}}
        else:
            return Permanent(f"text is {size} bytes; a WeCom robot message takes at most {WECOM_MARKDOWN_LIMIT}",
                             code="too_long")
    elif kind == "dingtalk":
        if size > TEXT_LIMIT_BYTES["dingtalk"]:
            return Permanent(f"text is {size} bytes; DingTalk takes at most 20000", code="too_long")
        payload = {"msgtype": "text", "text": {"content": text}}
        if target.secret:
            ts = int(now * 1000)
            base = str(yarl.URL(url))  # normalised once; the signed part is appended already encoded
            sep = "&" if urllib.parse.urlsplit(base).query else "?"
            url = f"{base}{sep}timestamp={ts}&sign={urllib.parse.quote(dingtalk_sign(target.secret, ts), safe='')}"
            signed_url = True
    elif kind == "feishu":
        if size > TEXT_LIMIT_BYTES["feishu"]:
            return Permanent(f"text is {size} bytes; a Feishu robot takes at most 20000", code="too_long")
        payload = {"msg_type": "text", "content": {"text": text}}
        if target.secret:
            ts = int(now)
            payload = {"timestamp": str(ts), "sign": feishu_sign(target.secret, ts), **payload}
    elif kind == "webhook":
        payload = {"delivery_id": item.delivery_id, "message_id": item.message_id, "draft_id": item.draft_id,
                   "title": item.title, "text": item.text, "exercise": item.exercise, "sent_at": int(now)}
    else:
        return Permanent(f"unknown webhook kind {kind!r}; expected one of {', '.join(KINDS)}", code="bad_kind")
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if kind == "webhook":
        if target.secret:
            headers["X-Signature"] = generic_signature(target.secret, body)
        headers["X-Alerts-Delivery"] = str(item.delivery_id)  # an idempotency key for the receiver
    # An already-encoded URL is sent as is: re-quoting would turn the sign's %2F back into "/".
    return Request(yarl.URL(url, encoded=True) if signed_url else yarl.URL(url), body, headers)


def classify(kind: str, status: int, body: bytes, retry_after: str | None, *, robot: str = "",
             hint: str = "", throttle_seconds: float | None = None) -> Outcome:
    """HTTP status first (429 pauses the robot, 5xx retries, other non-2xx permanent), then the robot's
    body code: a throttle pauses this robot for the service's window (its messages wait, none is lost
    or counted as failed); busy retries the message; others are permanent."""
    if status == 429:
        return _throttled(kind, f"HTTP 429 from the {kind} service", robot, hint,
                          _seconds(retry_after) or throttle_seconds or THROTTLE_SECONDS.get(kind, 60.0), "http_429")
    if status >= 500:
        return Retry(f"HTTP {status} from the {kind} service", after=_seconds(retry_after), code=f"http_{status}")
    if 300 <= status < 400:
        # Redirects are not followed: they could carry the robot key to another host.
        return Permanent(f"HTTP {status} redirect refused; check the robot URL", code=f"http_{status}")
    if status >= 400:
        return Permanent(f"HTTP {status} from the {kind} service", code=f"http_{status}")
    if kind == "webhook":
        return Ok(provider_status="sent")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return Retry(f"the {kind} service answered HTTP {status} with a body that is not JSON", code="bad_body")
    if not isinstance(doc, dict):
        return Retry(f"the {kind} service answered an unexpected JSON body", code="bad_body")
    if kind == "feishu":
        code = doc.get("code", doc.get("StatusCode"))
        message = doc.get("msg", doc.get("StatusMessage", ""))
    else:
        code, message = doc.get("errcode"), doc.get("errmsg", "")
    if not isinstance(code, int):
        return Retry(f"the {kind} service answered without an error code", code="bad_body")
    if code == 0:
        return Ok(provider_status="sent")
    reason = f"{kind} error {code}: {str(message)[:200]}"
    if code in THROTTLE_CODES.get(kind, ()):
        return _throttled(kind, reason, robot, hint, throttle_seconds or THROTTLE_SECONDS.get(kind, 60.0),
                          f"{kind}_{code}")
    if code in RETRY_CODES.get(kind, ()):
        return Retry(reason, after=RETRY_AFTER.get(kind), code=f"{kind}_{code}")
    return Permanent(reason, code=f"{kind}_{code}")


def _throttled(kind: str, reason: str, robot: str, hint: str, seconds: float, code: str) -> Paused:
    name = KIND_ZH.get(kind, kind)
    return Paused(reason, after=seconds, code=code, sender=robot, severity="warning",
                  problem=f"{name}机器人 {hint or robot} 被限流，暂停向它发送约 {seconds:.0f} 秒",
                  todo=f"消息保留在队列中，限流结束后自动补发；若反复出现，请调低 channels.yaml 中 robots.{kind} "
                       "的 messages，或为该群另设机器人")


def _seconds(value: str | None) -> float | None:
    if value and value.strip().isdigit():
        return min(float(value.strip()), 3600.0)
    return None


class WebhookChannel:
    """One IM kind (wecom, dingtalk, feishu or webhook) behind the channel interface."""

    def __init__(self, kind: str, resolve: Resolver, *, timeout_seconds: float = 10.0,
                 max_response_bytes: int = 65_536, allow_http_hosts: list[str] | tuple[str, ...] = (),
                 clock: Callable[[], float] = time.time, throttle_seconds: float | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown webhook kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.name = kind
        self.kind = kind
        self._resolve = resolve
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._max_bytes = max_response_bytes
        self._allow_http = tuple(allow_http_hosts)
        self._clock = clock
        # How long a throttled robot rests (None: the service's own window, THROTTLE_SECONDS).
        self._throttle_seconds = throttle_seconds
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def send(self, item: Outbound) -> Outcome:
        try:
            target: Target = await self._resolve(item.address)
        except TargetError as exc:
            return Permanent(str(exc), code="bad_contact")
        problem = validate_webhook_url(target.url, self._allow_http)
        if problem:
            return Permanent(f"robot {target.hint}: {problem}", code="bad_url")
        try:
            request = build_request(self.kind, target, item, now=self._clock())
        except ValueError:  # the message would name the URL
            return Permanent(f"robot {target.hint}: the URL cannot be used", code="bad_url")
        if isinstance(request, Permanent):
            return request
        try:
            async with self._http().post(request.url, data=request.body, headers=request.headers,
                                         allow_redirects=False) as response:
                body = await response.content.read(self._max_bytes + 1)
                if len(body) > self._max_bytes:
                    return Retry(f"the {self.kind} service answered more than {self._max_bytes} bytes",
                                 code="body_too_large")
                outcome = classify(self.kind, response.status, body, response.headers.get("Retry-After"),
                                   robot=item.address, hint=target.hint, throttle_seconds=self._throttle_seconds)
        except TimeoutError:
            outcome = Retry(f"no answer from robot {target.hint} within {self._timeout.total:.0f} s", code="timeout")
        except (aiohttp.ClientError, OSError) as exc:
            # The exception text may contain the URL; only its class is kept.
            outcome = Retry(f"cannot reach robot {target.hint}: {exc.__class__.__name__}", code="network")
        except asyncio.CancelledError:
            raise
        level = logging.INFO if isinstance(outcome, Ok) else logging.WARNING
        log.log(level, "%s robot %s, delivery %s: %s", self.kind, target.hint, item.delivery_id,
                type(outcome).__name__ if isinstance(outcome, Ok) else outcome.reason)
        return outcome

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
