"""Alibaba Cloud SMS (Dysmsapi 2017-05-25) through the official SDK: SendSms, SendBatchSms, QuerySendDetails."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from darabonba.runtime import RuntimeOptions

from alerts.channels.base import Found, NotFound, Ok, Outcome, Permanent, Reconciled, Retry, Unknowable
from alerts.channels.sms.base import (
    TZ,
    Message,
    ProviderFault,
    Target,
    aliyun_id,
    describe,
    mainland,
    scrub,
    seconds_to_midnight,
    split,
)
from alerts.channels.sms.templates import Account, Registered
from alerts.recipients import mask_phone

log = logging.getLogger("alerts.channels.aliyun")
PUBLIC_ENDPOINT = "dysmsapi.aliyuncs.com"
BATCH_SMS_MAX = 100  # numbers per SendBatchSms call

# Codes that are one number's (the whole call is refused for it): found by splitting the call.
NUMBER_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT"}
ACCOUNT_CODES = {
    "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId", "SignatureDoesNotMatch", "IncompleteSignature",
    "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL", "isv.OUT_OF_SERVICE", "isv.AMOUNT_NOT_ENOUGH",
    "isv.PRODUCT_UN_SUBSCRIPT", "isv.PRODUCT_UNSUBSCRIBE", "isp.RAM_PERMISSION_DENY", "Forbidden.RAM",
    "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGN_ILLEGAL", "isv.SIGN_STATE_ILLEGAL", "isv.DENY_IP_RANGE",
    "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL", "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
}
TEMPLATE_CODES = {
    "isv.SMS_TEMPLATE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.INVALID_PARAMETERS",
    "isv.INVALID_JSON_PARAM", "isv.PARAM_LENGTH_LIMIT", "isv.PARAM_NOT_SUPPORT_URL", "isv.SMS_CONTENT_ILLEGAL",
    "isv.TEMPLATE_PARAMS_ILLEGAL",
}
THROTTLE_CODES = {"Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable", "InternalError",
                  "isp.SYSTEM_ERROR", "isv.SYSTEM_ERROR"}


class AliyunError(Exception):
    def __init__(self, code: str, message: str, status: int = 200):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def endpoint_config(endpoint: str | None) -> tuple[str, str]:
    """(protocol, host[:port]) for the SDK from ALERTS_ALIYUN_SMS_ENDPOINT: a host, or a full URL."""
    if not endpoint:
        return "https", PUBLIC_ENDPOINT
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ALERTS_ALIYUN_SMS_ENDPOINT: {endpoint!r} — expected a host name or http(s)://host[:port]")
        return parts.scheme, parts.netloc
    return "https", endpoint


class AliyunClient:
    """The thin client: one SDK call each, answers as plain values, the provider's errors as AliyunError."""

    def __init__(self, *, access_key_id: str, access_key_secret: str, endpoint: str | None, timeout: float):
        protocol, host = endpoint_config(endpoint)
        # The keys are given explicitly: without them the SDK's default chain would go looking for
        # credentials on the network (the ECS metadata address).
        config = openapi_models.Config(access_key_id=access_key_id, access_key_secret=access_key_secret,
                                       endpoint=host, protocol=protocol, region_id="cn-hangzhou",
                                       read_timeout=int(timeout * 1000), connect_timeout=int(min(timeout, 5) * 1000))
        self.sdk = Client(config)
        self.runtime = RuntimeOptions()

    @staticmethod
    def _check(body: object) -> None:
        code = getattr(body, "code", None) or ""
        if code != "OK":
            raise AliyunError(code or "Unknown", getattr(body, "message", "") or "")

    async def _call(self, coro: object) -> object:
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

        try:
            response = await coro  # type: ignore[misc]
        except AlibabaCloudException as exc:
            raise AliyunError(exc.code or "Unknown", str(exc.message or ""), int(exc.status_code or 0)) from None
        except Exception as exc:
            inner = getattr(exc, "inner_exception", None)
            raise (inner if isinstance(inner, BaseException) else exc) from None
        return response.body  # type: ignore[attr-defined]

    async def send_sms(self, numbers: list[str], code: str, sign_name: str, params: dict[str, str]) -> str:
        request = sms_models.SendSmsRequest(phone_numbers=",".join(numbers), sign_name=sign_name, template_code=code,
                                            template_param=json.dumps(params, ensure_ascii=False))
        body = await self._call(self.sdk.send_sms_with_options_async(request, self.runtime))
        self._check(body)
        return str(getattr(body, "biz_id", "") or "")

    async def send_batch_sms(self, numbers: list[str], code: str, sign_name: str,
                             params: list[dict[str, str]]) -> str:
        request = sms_models.SendBatchSmsRequest(
            phone_number_json=json.dumps(numbers), sign_name_json=json.dumps([sign_name] * len(numbers),
                                                                              ensure_ascii=False),
            template_code=code, template_param_json=json.dumps(params, ensure_ascii=False))
        body = await self._call(self.sdk.send_batch_sms_with_options_async(request, self.runtime))
        self._check(body)
        return str(getattr(body, "biz_id", "") or "")

    async def query(self, number: str, day: str, *, biz_id: str | None = None) -> list[dict[str, str]]:
        """QuerySendDetails for one number on one day (yyyyMMdd): its records, newest first."""
        out: list[dict[str, str]] = []
        for page in range(1, 21):
            request = sms_models.QuerySendDetailsRequest(phone_number=number, send_date=day, page_size=50,
                                                         current_page=page, biz_id=biz_id)
            body = await self._call(self.sdk.query_send_details_with_options_async(request, self.runtime))
            self._check(body)
            dtos = getattr(getattr(body, "sms_send_detail_dtos", None), "sms_send_detail_dto", None) or []
            out.extend(d.to_map() for d in dtos)
            if len(out) >= int(getattr(body, "total_count", 0) or 0) or not dtos:
                break
        return out


def classify_error(exc: BaseException) -> ProviderFault | None:
    """A call-level fault, or None when the code is one number's (split the call to find it)."""
    if isinstance(exc, AliyunError):
        if exc.code in NUMBER_CODES:
            return None
        if exc.code in ACCOUNT_CODES:
            return ProviderFault("account", f"Aliyun {exc.code}: {exc.message}", code=exc.code)
        if exc.code in TEMPLATE_CODES:
            return ProviderFault("template", f"Aliyun {exc.code}: {exc.message}", code=exc.code)
        if exc.code in THROTTLE_CODES or exc.status >= 500 or exc.status == 429:
            return ProviderFault("failed", f"Aliyun {exc.code}: {exc.message}", code=exc.code, after=2.0)
        return ProviderFault("template", f"Aliyun {exc.code}: {exc.message}", code=exc.code)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError | aiohttp.ServerDisconnectedError):
        return ProviderFault("ambiguous", f"Aliyun did not answer: {describe(exc)}", code="timeout")
    if isinstance(exc, aiohttp.ClientConnectorError | ConnectionRefusedError | OSError):
        return ProviderFault("unreachable", f"cannot reach Aliyun: {describe(exc)}", code="connection")
    return ProviderFault("ambiguous", f"Aliyun call failed: {describe(exc)}", code="error")


def number_outcome(exc: AliyunError, account: Account) -> Outcome:
    """What a number-level refusal means for that one number."""
    if exc.code == "isv.BUSINESS_LIMIT_CONTROL":
        window = account.frequency.minute_window_seconds
        if "小时" in exc.message or "hour" in exc.message.lower():
            window = 3600.0
        elif "天" in exc.message or "日" in exc.message or "day" in exc.message.lower():
            window = seconds_to_midnight()
        return Retry(scrub(f"Aliyun frequency limit for this number ({exc.message}); retried after its window"),
                     after=window, code="frequency_limit")
    return Permanent(scrub(f"Aliyun {exc.code}: {exc.message}"), code=exc.code)


class AliyunProvider:
    """Aliyun as one provider of the SMS channel: batches, one number's refusal found by halving."""

    name = "aliyun"
    domestic = True

    def __init__(self, client: AliyunClient, account: Account, *, concurrency: int = 16):
        self.client = client
        self.account = account
        self.max_batch = account.max_numbers
        self.requests = 0  # provider calls made (benchmarks)
        self._gate = asyncio.Semaphore(concurrency)

    async def send_group(self, registered: Registered | None, message: Message,
                         targets: list[Target]) -> list[Outcome]:
        """One message to many numbers: SendSms, up to 1,000 numbers a call."""
        return await self.send_mixed(registered, [(message, targets)])

    async def send_mixed(self, registered: Registered | None,
                         parts: list[tuple[Message, list[Target]]]) -> list[Outcome]:
        """Messages of one template whose variables differ (say, per township): SendBatchSms, up to
        100 numbers a call, each with its own variables. A single message goes by SendSms."""
        assert registered is not None
        pairs: list[tuple[Target, dict[str, str]]] = []
        for message, targets in parts:
            assert message.params is not None
            params = registered.provider_params(message.params)
            assert isinstance(params, dict)
            pairs.extend((t, params) for t in targets)
        size = self.max_batch if len(parts) == 1 else BATCH_SMS_MAX
        outcomes: dict[int, Outcome] = {}
        for chunk in split(pairs, size):
            await self._send(registered, chunk, outcomes)
        return [outcomes[t.item.delivery_id] for _, targets in parts for t in targets]

    async def _send(self, registered: Registered, pairs: list[tuple[Target, dict[str, str]]],
                    outcomes: dict[int, Outcome]) -> None:
        numbers = [mainland(t.phone) or t.phone for t, _ in pairs]
        same = all(p is pairs[0][1] or p == pairs[0][1] for _, p in pairs)
        try:
            async with self._gate:
                self.requests += 1
                if same:
                    biz_id = await self.client.send_sms(numbers, registered.code, self.account.sign_name, pairs[0][1])
                else:
                    biz_id = await self.client.send_batch_sms(numbers, registered.code, self.account.sign_name,
                                                              [p for _, p in pairs])
        except Exception as exc:  # noqa: BLE001 - classified below; a fault ends the whole group
            fault = classify_error(exc)
            if fault is not None:
                raise fault from None
            assert isinstance(exc, AliyunError)
            if len(pairs) == 1:
                outcome = number_outcome(exc, self.account)
                log.info("aliyun: delivery %s to %s: %s", pairs[0][0].item.delivery_id,
                         mask_phone(pairs[0][0].phone), outcome)
                outcomes[pairs[0][0].item.delivery_id] = outcome
                return
            # One number spoils the call: send each half again, at once, until it stands alone.
            half = len(pairs) // 2
            await asyncio.gather(self._send(registered, pairs[:half], outcomes),
                                 self._send(registered, pairs[half:], outcomes))
            return
        for t, _ in pairs:
            outcomes[t.item.delivery_id] = Ok(provider_id=aliyun_id(biz_id, t.phone), provider_status="sent")

    async def reconcile(self, target: Target, registered: Registered | None, *, since: datetime) -> Reconciled:
        """Was this number sent this template since `since`? QuerySendDetails lists every accepted send
        (waiting, failed or delivered) by number and day."""
        if registered is None:
            return NotFound()
        number = mainland(target.phone)
        if number is None:
            return NotFound()
        days = sorted({since.astimezone(TZ).strftime("%Y%m%d"), datetime.now(TZ).strftime("%Y%m%d")})
        try:
            records = [r for day in days for r in await self.client.query(number, day)]
        except Exception as exc:  # noqa: BLE001 - no answer: we cannot know
            return Unknowable(f"Aliyun QuerySendDetails failed: {describe(exc)}")
        floor = since.astimezone(TZ).replace(tzinfo=None, microsecond=0)
        for r in records:
            try:
                sent = datetime.strptime(str(r.get("SendDate", "")), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                continue
            if r.get("TemplateCode") == registered.code and sent >= floor:
                status = {"1": "sent", "2": "undelivered", "3": "delivered"}.get(str(r.get("SendStatus")), "sent")
                return Found(provider_id=f"aliyun:query:{number[-4:]}:{r.get('SendDate')}", provider_status=status)
        return NotFound()

    async def close(self) -> None:
        return None
