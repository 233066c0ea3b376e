"""A local server that answers as Alibaba Cloud SMS (Dysmsapi 2017-05-25) does, for tests and benchmarks.

It checks each request's ACS3-HMAC-SHA256 signature as the provider does (canonical request over the
method, path, sorted query, the signed headers and the body's hash), refuses a replayed nonce, and
answers SendSms, SendBatchSms and QuerySendDetails with the provider's shapes: business errors
(frequency limits, unknown template, bad parameters) as HTTP 200 with a Code, signature and key errors
as 4xx. It can push delivery reports and replies (SmsReport / SmsUp, JSON arrays) to a URL.
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
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

ACCESS_KEY_ID = "LTAI5tTestKeyForLocalServer"
ACCESS_KEY_SECRET = "test-secret-for-the-local-aliyun-server"
TZ = ZoneInfo("Asia/Shanghai")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Sent:
    biz_id: str
    phone: str
    code: str
    content: str
    at: datetime
    status: int = 1  # 1 waiting for a report, 2 failed, 3 delivered


@dataclass
class AliyunServer:
    sign_name: str
    templates: dict[str, str]  # code → registered wording with ${name}
    per_minute: int = 0  # per number and template, 0: no limit (the provider's frequency control)
    max_variable: int = 35
    record: bool = True
    delay: float = 0.0
    # Answers to give before anything else: (HTTP status, Code, Message), one per request.
    plan: list[tuple[int, str, str]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    calls: list[tuple[str, int]] = field(default_factory=list)  # (action, numbers)
    requests: int = 0
    push_to: str | None = None  # a hook to push reports to after each send (standalone use)
    numbers: int = 0  # numbers accepted
    refused_signatures: int = 0
    first_request_at: float | None = None
    last_request_at: float | None = None
    _recent: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    _nonces: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(100001))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.handle)
        return app

    # --- the signature, as the provider checks it ----------------------------------------------

    def _verify(self, request: web.Request, body: bytes) -> str | None:
        auth = request.headers.get("Authorization", "")
        m = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)", auth)
        if not m:
            return "IncompleteSignature"
        key_id, signed, signature = m.groups()
        if key_id != ACCESS_KEY_ID:
            return "InvalidAccessKeyId.NotFound"
        payload_hash = hashlib.sha256(body).hexdigest()
        if request.headers.get("x-acs-content-sha256") != payload_hash:
            return "SignatureDoesNotMatch"
        names = signed.split(";")
        if not {"host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce"} <= set(names):
            return "IncompleteSignature"
        query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}"
                         for k, v in sorted(request.query.items()))
        headers = "".join(f"{n}:{request.headers.get(n, '').strip()}\n" for n in names)
        canonical = "\n".join([request.method, request.path or "/", query, headers, signed, payload_hash])
        to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
        expected = hmac.new(ACCESS_KEY_SECRET.encode(), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            return "SignatureDoesNotMatch"
        nonce = request.headers.get("x-acs-signature-nonce", "")
        if nonce in self._nonces:
            return "SignatureNonceUsed"
        self._nonces.add(nonce)
        try:
            at = datetime.strptime(request.headers.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "InvalidTimeStamp.Format"
        if abs(time.time() - at.timestamp()) > 15 * 60:
            return "InvalidTimeStamp.Expired"
        return None

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        self.requests += 1
        self.first_request_at = self.first_request_at or now
        self.last_request_at = now
        body = await request.read()
        request_id = str(uuid.uuid4()).upper()
        refused = self._verify(request, body)
        if refused:
            self.refused_signatures += 1
            status = 404 if refused == "InvalidAccessKeyId.NotFound" else 400
            return web.json_response({"RequestId": request_id, "HostId": request.host, "Code": refused,
                                      "Message": "Specified signature does not match our calculation."
                                      if refused == "SignatureDoesNotMatch" else refused}, status=status)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.plan:
            status, code, message = self.plan.pop(0)
            return web.json_response({"RequestId": request_id, "Code": code, "Message": message}, status=status)
        params = dict(request.query)
        if body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        action = request.headers.get("x-acs-action", "")
        if action == "SendSms":
            numbers = params.get("PhoneNumbers", "").split(",")
            answer = self._send(action, numbers, params.get("SignName", ""), [params.get("SignName", "")] * len(numbers),
                                params.get("TemplateCode", ""), [params.get("TemplateParam", "{}")] * len(numbers))
        elif action == "SendBatchSms":
            numbers = json.loads(params.get("PhoneNumberJson", "[]"))
            signs = json.loads(params.get("SignNameJson", "[]"))
            values = [json.dumps(v, ensure_ascii=False) for v in json.loads(params.get("TemplateParamJson", "[]"))]
            answer = self._send(action, numbers, signs[0] if signs else "", signs, params.get("TemplateCode", ""), values)
        elif action == "QuerySendDetails":
            answer = self._query(params)
        else:
            return web.json_response({"RequestId": request_id, "Code": "InvalidAction.NotFound",
                                      "Message": f"Specified api is not found: {action}"}, status=404)
        answer["RequestId"] = request_id
        return web.json_response(answer)

    def _send(self, action: str, numbers: list[str], sign: str, signs: list[str], code: str, values: list[str]) -> dict[str, object]:
        self.calls.append((action, len(numbers)))
        if len(numbers) > (1000 if action == "SendSms" else 100) or not numbers:
            return {"Code": "isv.BUSINESS_LIMIT_CONTROL" if numbers else "MissingPhoneNumbers",
                    "Message": "at most 1000 numbers per call"}
        if any(s != self.sign_name for s in signs):
            return {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "该账号下找不到对应签名"}
        wording = self.templates.get(code)
        if wording is None:
            return {"Code": "isv.SMS_TEMPLATE_ILLEGAL", "Message": "该账号下找不到对应模板"}
        contents = []
        for raw in values:
            try:
                params = json.loads(raw)
            except ValueError:
                return {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法，只接受字符串值"}
            if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
                return {"Code": "isv.INVALID_JSON_PARAM", "Message": "JSON参数不合法，只接受字符串值"}
            names = set(VARIABLE.findall(wording))
            if set(params) != names:
                return {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": "模板变量缺少对应参数值"}
            if any(len(v) > self.max_variable for v in params.values()):
                return {"Code": "isv.PARAM_LENGTH_LIMIT", "Message": "参数超出长度限制"}
            contents.append(VARIABLE.sub(lambda m, p=params: p[m.group(1)], wording))
        for n in numbers:
            if not re.fullmatch(r"1\d{10}", n):
                return {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}
        now = time.monotonic()
        if self.per_minute:
            for n in numbers:
                recent = [t for t in self._recent[(n, code)] if now - t < 60]
                if len(recent) >= self.per_minute:
                    return {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": f"触发分钟级流控Permits:{self.per_minute}"}
            for n in numbers:
                self._recent[(n, code)].append(now)
        biz_id = f"{next(self._ids)}^{int(time.time())}"
        self.numbers += len(numbers)
        if self.record:
            at = datetime.now(TZ).replace(microsecond=0, tzinfo=None)
            self.sent.extend(Sent(biz_id, n, code, c, at) for n, c in zip(numbers, contents, strict=True))
        if self.push_to:
            asyncio.get_running_loop().call_later(1.0, lambda: asyncio.ensure_future(self._push_later()))
        return {"Code": "OK", "Message": "OK", "BizId": biz_id}

    async def _push_later(self) -> None:
        entries = self.reports()
        if entries and self.push_to:
            await self.push(self.push_to, entries)

    def _query(self, params: dict[str, str]) -> dict[str, object]:
        phone, day = params.get("PhoneNumber", ""), params.get("SendDate", "")
        rows = [s for s in self.sent if s.phone == phone and s.at.strftime("%Y%m%d") == day
                and (not params.get("BizId") or s.biz_id == params["BizId"])]
        size, page = int(params.get("PageSize", "10")), int(params.get("CurrentPage", "1"))
        chunk = rows[(page - 1) * size: page * size]
        return {"Code": "OK", "Message": "OK", "TotalCount": len(rows), "SmsSendDetailDTOs": {"SmsSendDetailDTO": [
            {"PhoneNum": s.phone, "SendStatus": s.status, "ErrCode": "DELIVERED" if s.status == 3 else "",
             "TemplateCode": s.code, "Content": f"【{self.sign_name}】{s.content}",
             "SendDate": s.at.strftime("%Y-%m-%d %H:%M:%S"), "ReceiveDate": "", "OutId": ""} for s in chunk]}}

    # --- pushes to our hooks ------------------------------------------------------------------

    def reports(self, *, failed: set[str] = frozenset()) -> list[dict[str, object]]:  # type: ignore[assignment]
        """SmsReport entries for everything sent and not reported yet; numbers in `failed` undelivered."""
        out = []
        for s in self.sent:
            if s.status != 1:
                continue
            ok = s.phone not in failed
            s.status = 3 if ok else 2
            out.append({"phone_number": s.phone, "send_time": s.at.strftime("%Y-%m-%d %H:%M:%S"),
                        "report_time": datetime.now(TZ).strftime("%Y-%m-%d %H:%M:%S"), "success": ok,
                        "err_code": "DELIVERED" if ok else "MK:0001", "err_msg": "用户接收成功" if ok else "空号",
                        "sms_size": "2", "biz_id": s.biz_id, "out_id": ""})
        return out

    @staticmethod
    async def push(url: str, entries: list[dict[str, object]]) -> tuple[int, object]:
        async with aiohttp.ClientSession() as session, session.post(url, json=entries) as response:
            return response.status, await response.json(content_type=None)


async def start(server: AliyunServer) -> tuple[web.AppRunner, str]:
    # Long query strings: SendSms carries up to 1,000 numbers in its URL, as the provider accepts.
    runner = web.AppRunner(server.app(), access_log=None, max_line_size=65536)
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

    server = FAKES["aliyun"](registry(), record=bool(args.push), push_to=args.push)
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
