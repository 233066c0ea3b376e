"""Tencent Cloud SMS (API 2021-01-11) through the official SDK's asyncio client: SendSms and the pulls."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models
from tencentcloud.sms.v20210111.sms_client_async import SmsClient

from alerts.channels.base import Found, NotFound, Ok, Outcome, Permanent, Reconciled, Retry, Unknowable
from alerts.channels.sms.base import (
    Message,
    ProviderFault,
    Target,
    describe,
    e164,
    scrub,
    seconds_to_midnight,
    split,
    tencent_id,
)
from alerts.channels.sms.templates import Account, Registered
from alerts.recipients import mask_phone

log = logging.getLogger("alerts.channels.tencent")
PUBLIC_ENDPOINT = "sms.tencentcloudapi.com"

ACCOUNT_CODES = {
    "AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound", "AuthFailure.SignatureExpire",
    "AuthFailure.UnauthorizedOperation", "UnauthorizedOperation.RequestPermissionDeny",
    "UnauthorizedOperation.RequestIpNotInWhitelist", "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
    "UnauthorizedOperation.SerivceSuspendDueToArrears", "UnauthorizedOperation.ServiceSuspendDueToArrears",
    "FailedOperation.InsufficientBalanceInSmsPackage", "FailedOperation.SignatureIncorrectOrUnapproved",
    "InvalidParameterValue.SdkAppIdNotExist", "LimitExceeded.AppDailyLimit", "LimitExceeded.AppGlobalDailyLimit",
    "LimitExceeded.AppMainlandChinaDailyLimit",
}
TEMPLATE_CODES = {
    "FailedOperation.TemplateIncorrectOrUnapproved", "InvalidParameterValue.TemplateParameterFormatError",
    "InvalidParameterValue.TemplateParameterLengthLimit", "FailedOperation.ContainSensitiveWord",
    "InvalidParameterValue.ContentLengthLimit", "FailedOperation.MissingTemplateToModify",
    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
}
# Per-number answers inside a successful call (SendStatusSet): limits, then numbers never to retry.
FREQUENCY_CODES = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30.0, "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    "LimitExceeded.PhoneNumberDailyLimit": -1.0, "LimitExceeded.PhoneNumberSameContentDailyLimit": -1.0,
    "LimitExceeded.DeliveryFrequencyLimit": 60.0,
}
NUMBER_PERMANENT = {"InvalidParameterValue.IncorrectPhoneNumber", "FailedOperation.PhoneNumberInBlacklist",
                    "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
                    "FailedOperation.PhoneNumberParseFail", "UnsupportedOperation.UnsupportedRegion"}


def http_profile(endpoint: str | None, timeout: float) -> HttpProfile:
    """ALERTS_TENCENT_SMS_ENDPOINT as the SDK wants it: a full http:// URL sets the scheme as well as
    the host (the profile alone would still speak https to it)."""
    if not endpoint:
        return HttpProfile(endpoint=PUBLIC_ENDPOINT, reqTimeout=int(timeout), keepAlive=True)
    if "://" in endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"ALERTS_TENCENT_SMS_ENDPOINT: {endpoint!r} — expected a host name or http(s)://host[:port]")
        return HttpProfile(protocol=parts.scheme, endpoint=parts.netloc, reqTimeout=int(timeout), keepAlive=True)
    return HttpProfile(endpoint=endpoint, reqTimeout=int(timeout), keepAlive=True)


class TencentClient:
    """The thin client over the SDK's asyncio SmsClient."""

    def __init__(self, *, secret_id: str, secret_key: str, endpoint: str | None, region: str, sdk_app_id: str,
                 timeout: float):
        profile = ClientProfile(httpProfile=http_profile(endpoint, timeout))
        self.sdk = SmsClient(credential.Credential(secret_id, secret_key), region or "ap-guangzhou", profile)
        self.sdk_app_id = sdk_app_id

    async def send_sms(self, numbers: list[str], template_id: str, sign_name: str,
                       params: list[str]) -> list[dict[str, Any]]:
        request = models.SendSmsRequest()
        request.PhoneNumberSet = numbers
        request.SmsSdkAppId = self.sdk_app_id
        request.TemplateId = template_id
        request.SignName = sign_name
        request.TemplateParamSet = params
        # The SDK's own call path (signing, errors), answered as plain JSON: building a model object per
        # number costs more than the rest of a 200-number call.
        data = await self.sdk.call_and_deserialize(action="SendSms", params=request._serialize(), resp_cls=dict,
                                                   headers=request.headers, opts={})
        return list(data["Response"].get("SendStatusSet") or [])

    async def pull_status(self, limit: int = 100) -> list[dict[str, Any]]:
        request = models.PullSmsSendStatusRequest()
        request.Limit = limit
        request.SmsSdkAppId = self.sdk_app_id
        response = await self.sdk.PullSmsSendStatus(request)
        return [json_of(s) for s in response.PullSmsSendStatusSet or []]

    async def pull_replies(self, limit: int = 100) -> list[dict[str, Any]]:
        request = models.PullSmsReplyStatusRequest()
        request.Limit = limit
        request.SmsSdkAppId = self.sdk_app_id
        response = await self.sdk.PullSmsReplyStatus(request)
        return [json_of(s) for s in response.PullSmsReplyStatusSet or []]

    async def status_by_number(self, number: str, begin: datetime) -> list[dict[str, Any]]:
        request = models.PullSmsSendStatusByPhoneNumberRequest()
        request.BeginTime = int(begin.timestamp())
        request.EndTime = int(datetime.now(UTC).timestamp()) + 60
        request.Offset = 0
        request.Limit = 100
        request.PhoneNumber = number
        request.SmsSdkAppId = self.sdk_app_id
        response = await self.sdk.PullSmsSendStatusByPhoneNumber(request)
        return [json_of(s) for s in response.PullSmsSendStatusSet or []]

    async def close(self) -> None:
        await self.sdk.close()


def json_of(model: Any) -> dict[str, Any]:
    import json

    return dict(json.loads(model.to_json_string()))


def classify_error(exc: BaseException) -> ProviderFault:
    if isinstance(exc, TencentCloudSDKException):
        code = exc.get_code() or "Unknown"
        message = exc.get_message() or ""
        if code in ACCOUNT_CODES:
            return ProviderFault("account", f"Tencent {code}: {message}", code=code)
        if code in TEMPLATE_CODES:
            return ProviderFault("template", f"Tencent {code}: {message}", code=code)
        if code == "ServerNetworkError":
            return ProviderFault("failed", f"Tencent answered an HTTP error: {message}"[:300], code=code, after=2.0)
        if code.startswith(("RequestLimitExceeded", "InternalError", "FailedOperation.FailResolvePacket")):
            return ProviderFault("failed", f"Tencent {code}: {message}", code=code, after=2.0)
        if code.startswith(("InvalidParameter", "MissingParameter", "UnsupportedOperation")):
            return ProviderFault("template", f"Tencent {code}: {message}", code=code)
        return ProviderFault("failed", f"Tencent {code}: {message}", code=code)
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return ProviderFault("unreachable", f"cannot reach Tencent: {describe(exc)}", code="connection")
        return ProviderFault("ambiguous", f"Tencent did not answer: {describe(exc)}", code="timeout")
    if isinstance(exc, httpx.ConnectError):
        return ProviderFault("unreachable", f"cannot reach Tencent: {describe(exc)}", code="connection")
    return ProviderFault("ambiguous", f"Tencent call failed: {describe(exc)}", code="error")


def status_outcome(status: dict[str, Any]) -> Outcome:
    code = str(status.get("Code") or "")
    message = scrub(str(status.get("Message") or ""))
    if code == "Ok":
        return Ok(provider_id=tencent_id(str(status.get("SerialNo") or "")), provider_status="sent")
    if code in FREQUENCY_CODES:
        after = FREQUENCY_CODES[code]
        return Retry(f"Tencent frequency limit for this number ({code}: {message}); retried after its window",
                     after=seconds_to_midnight() if after < 0 else after, code="frequency_limit")
    if code in NUMBER_PERMANENT:
        return Permanent(f"Tencent {code}: {message}", code=code)
    return Retry(f"Tencent {code}: {message}", code=code or "unknown")


class TencentProvider:
    name = "tencent"
    domestic = True

    def __init__(self, client: TencentClient, account: Account, *, concurrency: int = 16):
        self.client = client
        self.account = account
        self.max_batch = account.max_numbers
        self.requests = 0
        self._gate = asyncio.Semaphore(concurrency)

    async def send_group(self, registered: Registered | None, message: Message,
                         targets: list[Target]) -> list[Outcome]:
        assert registered is not None and message.params is not None
        params = registered.provider_params(message.params)
        assert isinstance(params, list)
        outcomes: dict[int, Outcome] = {}
        for chunk in split(targets, self.max_batch):
            try:
                async with self._gate:
                    self.requests += 1
                    statuses = await self.client.send_sms([t.phone for t in chunk], registered.code,
                                                          self.account.sign_name, params)
            except Exception as exc:  # noqa: BLE001 - every failure of the call is classified
                raise classify_error(exc) from None
            by_phone = {e164(str(s.get("PhoneNumber") or "")): s for s in statuses}
            for t in chunk:
                status = by_phone.get(e164(t.phone))
                outcome = status_outcome(status) if status else Retry("Tencent returned no status for this number",
                                                                      code="no_status")
                if not isinstance(outcome, Ok):
                    log.info("tencent: delivery %s to %s: %s", t.item.delivery_id, mask_phone(t.phone), outcome)
                outcomes[t.item.delivery_id] = outcome
        return [outcomes[t.item.delivery_id] for t in targets]

    async def reconcile(self, target: Target, registered: Registered | None, *, since: datetime) -> Reconciled:
        """Tencent lists only status reports by number: a send without a report yet is not visible, so
        "not found" is only trusted once reports have had time to arrive (10 minutes)."""
        try:
            reports = await self.client.status_by_number(target.phone, since)
        except Exception as exc:  # noqa: BLE001
            return Unknowable(f"Tencent PullSmsSendStatusByPhoneNumber failed: {describe(exc)}")
        for r in reports:
            status = "delivered" if str(r.get("ReportStatus")) == "SUCCESS" else "undelivered"
            return Found(provider_id=tencent_id(str(r.get("SerialNo") or "")), provider_status=status)
        if (datetime.now(UTC) - since).total_seconds() < 600:
            return Unknowable("no Tencent status report yet; reports can take minutes")
        return NotFound()

    async def close(self) -> None:
        await self.client.close()
