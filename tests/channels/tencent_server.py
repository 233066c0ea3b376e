"""A local server that answers as Tencent Cloud SMS (API 2021-01-11) does, for tests and benchmarks.

Each request's TC3-HMAC-SHA256 signature is checked as the provider does (canonical request over
method, path, query, content-type and host, the body's hash; a key derived from the date and the
service); errors come back as {"Response": {"Error": {...}, "RequestId"}}. SendSms answers per number
(SendStatusSet), including per-number frequency limits; PullSmsSendStatus / PullSmsReplyStatus hand
out queued reports once; status and reply callbacks can be pushed to a URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
from aiohttp import web

SECRET_ID = "AKIDtestlocaltencentserver0000"
SECRET_KEY = "test-secret-key-for-the-local-tencent-server"
APP_ID = "1400000000"
SLOT = re.compile(r"\{(\d+)\}")


@dataclass
class Sent:
    serial: str
    phone: str  # +86...
    template: str
    content: str
    at: float
    reported: bool = False


@dataclass
class TencentServer:
    sign_name: str
    templates: dict[str, str]  # template id → registered wording with {1}, {2}, ...
    per_30s: int = 0  # per number, 0: no limit
    max_variable: int = 12
    record: bool = True
    delay: float = 0.0
    plan: list[tuple[str, str]] = field(default_factory=list)  # (Error.Code, Message) answers to give first
    sent: list[Sent] = field(default_factory=list)
    replies: list[dict[str, object]] = field(default_factory=list)
    requests: int = 0
    push_to: str | None = None  # a hook to push reports to after each send (standalone use)
    numbers: int = 0  # numbers accepted
    refused_signatures: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None
    _recent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.handle)
        return app

    def _verify(self, request: web.Request, body: bytes) -> str | None:
        auth = request.headers.get("Authorization", "")
        m = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/(\w+)/tc3_request, "
                         r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})", auth)
        if not m:
            return "AuthFailure.SignatureFailure"
        secret_id, date, service, signed, signature = m.groups()
        if secret_id != SECRET_ID:
            return "AuthFailure.SecretIdNotFound"
        stamp = request.headers.get("X-TC-Timestamp", "0")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return "AuthFailure.SignatureExpire"
        if datetime.fromtimestamp(int(stamp), UTC).strftime("%Y-%m-%d") != date or service != "sms":
            return "AuthFailure.SignatureFailure"
        headers = "".join(f"{n}:{request.headers.get(n, '').strip().lower() if n == 'content-type' else request.headers.get(n, '').strip()}\n"
                          for n in signed.split(";"))
        canonical = "\n".join([request.method, request.path, request.query_string, headers, signed,
                               hashlib.sha256(body).hexdigest()])
        to_sign = "\n".join(["TC3-HMAC-SHA256", stamp, f"{date}/{service}/tc3_request",
                             hashlib.sha256(canonical.encode()).hexdigest()])

        def mac(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        key = mac(mac(mac(("TC3" + SECRET_KEY).encode(), date), service), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(expected, signature) else "AuthFailure.SignatureFailure"

    @staticmethod
    def _answer(request_id: str, payload: dict[str, object]) -> web.Response:
        # Exactly "application/json", as the provider sends it (the SDK reads errors only then).
        return web.Response(body=json.dumps({"Response": {**payload, "RequestId": request_id}}).encode(),
                            headers={"Content-Type": "application/json"})

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        self.requests += 1
        self.first_request_at = self.first_request_at or now
        self.last_request_at = now
        body = await request.read()
        rid = str(uuid.uuid4())
        refused = self._verify(request, body)
        if refused:
            self.refused_signatures += 1
            return self._answer(rid, {"Error": {"Code": refused, "Message": "The provided credentials could not "
                                                "be validated. Please check your signature is correct."}})
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.plan:
            code, message = self.plan.pop(0)
            return self._answer(rid, {"Error": {"Code": code, "Message": message}})
        params = json.loads(body or b"{}")
        action = request.headers.get("X-TC-Action", "")
        if params.get("SmsSdkAppId") != APP_ID:
            return self._answer(rid, {"Error": {"Code": "InvalidParameterValue.SdkAppIdNotExist",
                                                "Message": "SdkAppId not exist."}})
        if action == "SendSms":
            return self._answer(rid, self._send(params))
        if action == "PullSmsSendStatus":
            due = [s for s in self.sent if not s.reported][: int(params.get("Limit", 100))]
            for s in due:
                s.reported = True
            return self._answer(rid, {"PullSmsSendStatusSet": [self._status(s) for s in due]})
        if action == "PullSmsSendStatusByPhoneNumber":
            rows = [s for s in self.sent if s.reported and s.phone.endswith(params.get("PhoneNumber", "")[-11:])]
            return self._answer(rid, {"PullSmsSendStatusSet": [self._status(s) for s in rows]})
        if action == "PullSmsReplyStatus":
            due, self.replies = self.replies, []
            return self._answer(rid, {"PullSmsReplyStatusSet": due})
        return self._answer(rid, {"Error": {"Code": "InvalidAction", "Message": f"unknown action {action}"}})

    def _status(self, s: Sent) -> dict[str, object]:
        return {"UserReceiveTime": int(time.time()), "CountryCode": "86", "SubscriberNumber": s.phone[3:],
                "PhoneNumber": s.phone, "SerialNo": s.serial, "ReportStatus": "SUCCESS",
                "Description": "用户短信送达成功", "SessionContext": ""}

    def _send(self, params: dict[str, object]) -> dict[str, object]:
        numbers = [str(n) for n in params.get("PhoneNumberSet") or []]  # type: ignore[attr-defined]
        if not numbers or len(numbers) > 200:
            return {"Error": {"Code": "LimitExceeded.PhoneNumberCountLimit", "Message": "at most 200 numbers"}}
        if params.get("SignName") != self.sign_name:
            return {"Error": {"Code": "FailedOperation.SignatureIncorrectOrUnapproved",
                              "Message": "signature not approved"}}
        wording = self.templates.get(str(params.get("TemplateId")))
        if wording is None:
            return {"Error": {"Code": "FailedOperation.TemplateIncorrectOrUnapproved",
                              "Message": "template not approved or not found"}}
        values = [str(v) for v in params.get("TemplateParamSet") or []]  # type: ignore[attr-defined]
        if len(values) != len(set(SLOT.findall(wording))):
            return {"Error": {"Code": "InvalidParameterValue.TemplateParameterFormatError",
                              "Message": "the number of template parameters does not match"}}
        if any(len(v) > self.max_variable for v in values):
            return {"Error": {"Code": "InvalidParameterValue.TemplateParameterLengthLimit",
                              "Message": f"a template parameter is longer than {self.max_variable} characters"}}
        content = SLOT.sub(lambda m: values[int(m.group(1)) - 1], wording)
        statuses = []
        now = time.monotonic()
        for n in numbers:
            phone = n if n.startswith("+") else "+86" + n[-11:]
            if not re.fullmatch(r"\+861[3-9]\d{9}", phone):
                statuses.append({"SerialNo": "", "PhoneNumber": n, "Fee": 0, "SessionContext": "",
                                 "Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "invalid number",
                                 "IsoCode": "CN"})
                continue
            recent = [t for t in self._recent[phone] if now - t < 30]
            if self.per_30s and len(recent) >= self.per_30s:
                statuses.append({"SerialNo": "", "PhoneNumber": phone, "Fee": 0, "SessionContext": "",
                                 "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
                                 "Message": "the number exceeds the 30-second frequency limit", "IsoCode": "CN"})
                continue
            self._recent[phone].append(now)
            self.numbers += 1
            serial = f"2433:{next(self._ids):010d}"
            if self.record:
                self.sent.append(Sent(serial, phone, str(params.get("TemplateId")), content, time.time()))
            statuses.append({"SerialNo": serial, "PhoneNumber": phone, "Fee": 2, "SessionContext": "",
                             "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
        if self.push_to:
            asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(self._push_later()))
        return {"SendStatusSet": statuses}

    async def _push_later(self) -> None:
        entries = self.callbacks()
        if entries and self.push_to:
            await self.push(self.push_to, entries)

    def callbacks(self, *, failed: set[str] = frozenset()) -> list[dict[str, object]]:  # type: ignore[assignment]
        """Status callback entries for everything not reported yet."""
        out = []
        for s in self.sent:
            if s.reported:
                continue
            s.reported = True
            ok = s.phone not in failed
            out.append({"user_receive_time": datetime.now().strftime("%Y-%m-%d %H:%M:%S"), "nationcode": "86",
                        "mobile": s.phone[3:], "report_status": "SUCCESS" if ok else "FAIL",
                        "errmsg": "DELIVRD" if ok else "MK:0005", "description": "用户短信送达成功" if ok else "用户关机",
                        "sid": s.serial})
        return out

    @staticmethod
    async def push(url: str, entries: object) -> tuple[int, object]:
        async with aiohttp.ClientSession() as session, session.post(url, json=entries) as response:
            return response.status, await response.json(content_type=None)


async def start(server: TencentServer) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def stats(request: web.Request) -> web.Response:
    """Counters for a benchmark in another process (not part of the provider's API)."""
    server = request.app["server"]
    return web.json_response({"requests": server.requests, "numbers": server.numbers,
                              "refused_signatures": server.refused_signatures})


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="a local provider server for benchmarks")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--push", metavar="URL", help="push delivery reports to this hook a second after each send, "
                        "as the provider does (for trying the service by hand)")
    args = parser.parse_args()
    from tests.channels.sms_support import FAKES, registry

    server = FAKES["tencent"](registry(), record=bool(args.push), push_to=args.push)
    app = server.app()
    app["server"] = server
    app.router.add_get("/_stats", stats)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None, max_line_size=65536)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
