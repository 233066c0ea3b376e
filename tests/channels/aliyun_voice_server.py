"""A local server that answers as Alibaba Cloud voice notification (Dyvmsapi 2017-05-25) does.

It checks each request's ACS3-HMAC-SHA256 signature as the SMS test server does (the same canonical
request; a replayed nonce is refused), answers SingleCallByTts with the provider's shape (Code OK and
a CallId; business errors as HTTP 200 with a Code), keeps the provider's per-callee frequency control
(one call a minute, five an hour), and builds VoiceReport entries (JSON arrays, as pushed) for calls.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from tests.channels.aliyun_server import ACCESS_KEY_ID, ACCESS_KEY_SECRET, AliyunServer

__all__ = ["ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "AliyunVoiceServer", "start"]
TZ = ZoneInfo("Asia/Shanghai")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Placed:
    call_id: str
    number: str
    code: str
    params: dict[str, str]
    text: str  # what the callee hears: the registered wording filled in
    out_id: str
    play_times: str
    show_number: str


@dataclass
class AliyunVoiceServer:
    templates: dict[str, str]  # TTS code → registered wording with ${name}
    per_minute: int = 1  # per callee, as the provider's flow control
    per_hour: int = 5
    plan: list[tuple[int, str, str]] = field(default_factory=list)  # (HTTP status, Code, Message) first
    placed: list[Placed] = field(default_factory=list)
    requests: int = 0
    refused_signatures: int = 0
    clock: object = None  # a callable giving "now" in seconds (tests compress time); default time.time
    _recent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _nonces: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(116012354148))

    _verify = AliyunServer._verify  # the same signature check as the provider's SMS API

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/", self.handle)
        return app

    def _now(self) -> float:
        return self.clock() if callable(self.clock) else time.time()  # type: ignore[no-any-return]

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        request_id = str(uuid.uuid4()).upper()
        refused = self._verify(request, body)
        if refused:
            self.refused_signatures += 1
            return web.json_response({"RequestId": request_id, "Code": refused, "Message": refused},
                                     status=404 if refused == "InvalidAccessKeyId.NotFound" else 400)
        if self.plan:
            status, code, message = self.plan.pop(0)
            return web.json_response({"RequestId": request_id, "Code": code, "Message": message}, status=status)
        params = dict(request.query)
        if body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        action = request.headers.get("x-acs-action", "")
        if action != "SingleCallByTts":
            return web.json_response({"RequestId": request_id, "Code": "InvalidAction.NotFound",
                                      "Message": f"Specified api is not found: {action}"}, status=404)
        answer = self._call(params)
        answer["RequestId"] = request_id
        return web.json_response(answer)

    def _call(self, p: dict[str, str]) -> dict[str, object]:
        number, code = p.get("CalledNumber", ""), p.get("TtsCode", "")
        if not re.fullmatch(r"1[3-9]\d{9}|0\d{9,11}", number):
            return {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": f"invalid number {number}"}
        if code not in self.templates:
            return {"Code": "isv.TTS_TEMPLATE_ILLEGAL", "Message": f"TtsCode {code} is not approved"}
        try:
            values = json.loads(p.get("TtsParam") or "{}")
        except ValueError:
            return {"Code": "isv.INVALID_JSON_PARAM", "Message": "TtsParam is not JSON"}
        wording = self.templates[code]
        missing = [n for n in VARIABLE.findall(wording) if n not in values]
        if missing:
            return {"Code": "isv.TEMPLATE_MISSING_PARAMETERS", "Message": f"missing {','.join(missing)}"}
        now = self._now()
        recent = [t for t in self._recent[number] if now - t < 3600]
        if sum(1 for t in recent if now - t < 60) >= self.per_minute:
            return {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"}
        if len(recent) >= self.per_hour:
            return {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发小时级流控Permits:5"}
        self._recent[number] = [*recent, now]
        call_id = f"{next(self._ids)}^{next(self._ids)}"
        text = VARIABLE.sub(lambda m: str(values.get(m.group(1), "")), wording)
        self.placed.append(Placed(call_id, number, code, {k: str(v) for k, v in values.items()}, text,
                                  p.get("OutId", ""), p.get("PlayTimes", ""), p.get("CalledShowNumber", "")))
        return {"Code": "OK", "Message": "OK", "CallId": call_id}

    def report(self, placed: Placed, *, answered: bool, dtmf: str = "") -> dict[str, object]:
        """A VoiceReport entry for a call, as the provider pushes it after the call ends."""
        at = datetime.now(TZ).strftime("%Y-%m-%d %H:%M:%S")
        return {"call_id": placed.call_id, "out_id": placed.out_id, "callee": placed.number,
                "caller": placed.show_number or "0571000000", "status_code": "200000" if answered else "200002",
                "status_msg": "用户听完" if answered else "用户未接听", "start_time": at if answered else "",
                "end_time": at, "originate_time": at, "ring_time": at, "duration": "28" if answered else "0",
                "hangup_direction": "用户" if answered else "机器", "dtmf": dtmf, "voice_type": "voice",
                "toll_type": "LOCAL"}

    @staticmethod
    async def push(url: str, entries: list[dict[str, object]]) -> tuple[int, object]:
        async with aiohttp.ClientSession() as session, session.post(url, json=entries) as response:
            return response.status, await response.json(content_type=None)


async def start(server: AliyunVoiceServer) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"
