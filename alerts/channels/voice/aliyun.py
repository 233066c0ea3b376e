"""Alibaba Cloud voice notification (Dyvmsapi 2017-05-25) through the official SDK: SingleCallByTts.

One call per number, a registered TTS template with its variables; the call's result comes later by
receipt (VoiceReport, alerts/web/voice_hooks.py). The provider limits each callee (one call a minute,
five an hour, twenty a day): its frequency answer retries that one call after the window.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from alibabacloud_dyvmsapi20170525 import models as vms_models
from alibabacloud_dyvmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models
from darabonba.runtime import RuntimeOptions

from alerts.channels.base import Ok, Outcome, Paused, Permanent, Retry
from alerts.channels.sms.aliyun import ACCOUNT_CODES, THROTTLE_CODES, AliyunError
from alerts.channels.sms.base import describe, mainland, scrub
from alerts.channels.sms.templates import Registered
from alerts.channels.voice.registry import AliyunVoiceAccount

log = logging.getLogger("alerts.channels.voice.aliyun")
PUBLIC_ENDPOINT = "dyvmsapi.aliyuncs.com"
# The callee's own limits or number: that one call only.
CALLEE_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isv.MOBILE_NUMBER_ILLEGAL", "isv.BLACK_KEY_CONTROL_LIMIT",
                "isv.CALLEE_NUMBER_ILLEGAL"}
VOICE_ACCOUNT_CODES = ACCOUNT_CODES | {"isv.CALLED_SHOW_NUMBER_ILLEGAL", "isv.SHOW_NUMBER_ILLEGAL",
                                       "isv.VOICE_ACCOUNT_NOT_EXISTS"}
TEMPLATE_CODES = {"isv.TTS_TEMPLATE_ILLEGAL", "isv.TEMPLATE_MISSING_PARAMETERS", "isv.INVALID_PARAMETERS",
                  "isv.INVALID_JSON_PARAM", "isv.PARAM_LENGTH_LIMIT", "isv.TTS_PARAM_ILLEGAL"}


def endpoint_config(endpoint: str | None) -> tuple[str, str]:
    """(protocol, host[:port]) from ALERTS_ALIYUN_VOICE_ENDPOINT: a host, or a full http(s) URL."""
    from urllib.parse import urlsplit

    if not endpoint:
        return "https", PUBLIC_ENDPOINT
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ALERTS_ALIYUN_VOICE_ENDPOINT: {endpoint!r} — expected a host name or "
                             "http(s)://host[:port]")
        return parts.scheme, parts.netloc
    return "https", endpoint


class AliyunVoiceClient:
    """The thin client: one SDK call, the provider's errors as AliyunError."""

    def __init__(self, *, access_key_id: str, access_key_secret: str, endpoint: str | None, timeout: float):
        protocol, host = endpoint_config(endpoint)
        # Keys given explicitly: the SDK's default chain would otherwise look on the network (ECS metadata).
        config = openapi_models.Config(access_key_id=access_key_id, access_key_secret=access_key_secret,
                                       endpoint=host, protocol=protocol, region_id="cn-hangzhou",
                                       read_timeout=int(timeout * 1000), connect_timeout=int(min(timeout, 5) * 1000))
        self.sdk = Client(config)
        self.runtime = RuntimeOptions()

    async def call(self, number: str, code: str, params: dict[str, str], *, account: AliyunVoiceAccount,
                   out_id: str) -> str:
        """SingleCallByTts; the CallId."""
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

        request = vms_models.SingleCallByTtsRequest(
            called_number=number, called_show_number=account.show_number or None, tts_code=code,
            tts_param=json.dumps(params, ensure_ascii=False), play_times=account.play_times,
            volume=account.volume, speed=account.speed, out_id=out_id)
        try:
            response = await self.sdk.single_call_by_tts_with_options_async(request, self.runtime)
        except AlibabaCloudException as exc:
            raise AliyunError(exc.code or "Unknown", str(exc.message or ""), int(exc.status_code or 0)) from None
        except Exception as exc:
            inner = getattr(exc, "inner_exception", None)
            raise (inner if isinstance(inner, BaseException) else exc) from None
        body = response.body
        if (body.code or "") != "OK":
            raise AliyunError(body.code or "Unknown", body.message or "")
        return str(body.call_id or "")


def outcome_of(exc: BaseException) -> Outcome:
    """A provider error as the outbox understands it: the account's (pause), the callee's, or a retry."""
    if isinstance(exc, AliyunError):
        reason = scrub(f"Aliyun voice {exc.code}: {exc.message}")
        if exc.code == "isv.BUSINESS_LIMIT_CONTROL":
            # Per callee: a minute between calls, five an hour, twenty a day.
            after = 3600.0 if ("小时" in exc.message or "hour" in exc.message.lower()) else 60.0
            return Retry(f"{reason}; this callee's call limit, called again after its window", after=after,
                         code="frequency_limit")
        if exc.code in CALLEE_CODES:
            return Permanent(reason, code=exc.code)
        if exc.code in VOICE_ACCOUNT_CODES:
            return Paused(reason, after=0, code=exc.code, problem="阿里云语音通知账号不可用，语音电话暂停",
                          todo="检查 ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET、账户余额、外显号码和 RAM 权限",
                          severity="critical")
        if exc.code in TEMPLATE_CODES:
            return Permanent(f"{reason}; check the TTS code and wording in voice_providers.yaml", code=exc.code)
        if exc.code in THROTTLE_CODES or exc.status >= 500 or exc.status == 429:
            return Retry(reason, after=5.0, code=exc.code)
        return Permanent(reason, code=exc.code)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError | aiohttp.ServerDisconnectedError):
        return Retry(f"Aliyun voice did not answer: {describe(exc)}", after=60.0, code="timeout")
    return Retry(f"cannot reach Aliyun voice: {describe(exc)}", after=10.0, code="connection")


class AliyunVoiceProvider:
    """Aliyun as a voice provider: mainland numbers, registered templates only."""

    name = "aliyun"

    def __init__(self, client: AliyunVoiceClient, account: AliyunVoiceAccount):
        self.client = client
        self.account = account
        self.requests = 0

    def can_call(self, phone: str) -> str:
        """Empty when this number can be called; else why not."""
        return "" if mainland(phone) else "Aliyun voice calls mainland numbers only"

    async def call(self, phone: str, registered: Registered, params: dict[str, str], *, out_id: str) -> Outcome:
        number = mainland(phone)
        assert number is not None
        self.requests += 1
        try:
            call_id = await self.client.call(number, registered.code, registered.provider_params(params),  # type: ignore[arg-type]
                                             account=self.account, out_id=out_id)
        except Exception as exc:  # noqa: BLE001 - every error has a meaning for the outbox
            return outcome_of(exc)
        return Ok(provider_id=f"aliyun-voice:{call_id}", provider_status="calling")

    async def close(self) -> None:
        return None
