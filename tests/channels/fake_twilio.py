"""A local HTTP server that answers like Twilio's Messages API, for tests and benchmarks.

POST /2010-04-01/Accounts/{sid}/Messages.json answers 201 with a Message JSON body; a plan can
make given numbers answer with errors first (429, 500, 400 with a Twilio error code, optionally a
Retry-After header), and `error_rates` makes a random share of requests fail (seeded).
GET of the same path lists messages as Twilio does: newest first, filtered by To, From and DateSent
(`DateSent>`/`DateSent<` from the library: on or after / before; date-only values mean midnight UTC);
a message counts as sent `send_after` seconds after it was accepted (until then it has no date_sent).
POST .../Calls.json (Twilio Voice) answers 201 with a Call JSON body and records the call's To, From,
TwiML and StatusCallback (`calls`); a number in `call_plan` answers with its errors first.
Run alone (for benchmarks in another process): python -m tests.channels.fake_twilio --port N
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from aiohttp import web

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
MESSAGING_SERVICE_SID = "MG" + "1" * 32

ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}

Plan = tuple[int, int | None] | tuple[int, int | None, str]


@dataclass
class Received:
    to: str
    body: str
    sender: str
    status_callback: str
    sid: str
    validity_period: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Call:
    to: str
    caller: str
    twiml: str
    status_callback: str
    sid: str


@dataclass
class FakeTwilio:
    """Behaviour and records of the fake; `plan[to]` lists (status, code[, Retry-After]) answers to give first."""

    plan: dict[str, list[Plan]] = field(default_factory=dict)
    # The same, by sender (From or MessagingServiceSid): a number whose queue is full answers so.
    plan_from: dict[str, list[Plan]] = field(default_factory=dict)
    delay: float = 0.0
    record: bool = True
    # A share of all create requests answered with an error instead: {429: 0.02, 500: 0.01}.
    error_rates: dict[int, float] = field(default_factory=dict)
    seed: int = 13
    send_after: float = 0.0  # seconds from accepted to sent (date_sent appears then)
    list_status: int = 200  # answer message lists with this error status instead (e.g. 403, 503)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    list_requests: int = 0
    by_to: Counter[str] = field(default_factory=Counter)
    first_request_at: float | None = None
    calls: list[Call] = field(default_factory=list)
    call_plan: dict[str, list[Plan]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _rng: random.Random | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", self.list)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self.create_call)
        return app

    async def create_call(self, request: web.Request) -> web.Response:
        """Twilio Voice: a call needs To, From and one of Twiml / Url, as the API requires."""
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to, caller = str(form.get("To", "")), str(form.get("From", ""))
        planned = self.call_plan.get(to)
        if planned:
            status, code, *after = planned.pop(0)
            if status != 201:
                return self._error(status, code, ERRORS.get(status, (code, "Bad Request"))[1], *after)
        if not to or not caller or not (form.get("Twiml") or form.get("Url")):
            return self._error(400, 21205 if not (form.get("Twiml") or form.get("Url")) else 21201,
                               "Url or Twiml parameter is required" if to and caller else "To and From are required")
        sid = f"CA{next(self._ids):032x}"
        self.calls.append(Call(to, caller, str(form.get("Twiml", "")), str(form.get("StatusCallback", "")), sid))
        stamp = format_datetime(self.now(), usegmt=False)
        return web.json_response({
            "sid": sid, "account_sid": ACCOUNT_SID, "to": to, "from": caller, "status": "queued",
            "direction": "outbound-api", "api_version": "2010-04-01", "date_created": stamp, "date_updated": stamp,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json", "subresource_uris": {}}, status=201)

    def _authorised(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        return auth == expected and request.match_info["sid"] == ACCOUNT_SID

    def _random_error(self) -> int | None:
        if not self.error_rates:
            return None
        if self._rng is None:
            self._rng = random.Random(self.seed)
        roll = self._rng.random()
        for status, share in sorted(self.error_rates.items()):
            if roll < share:
                return status
            roll -= share
        return None

    async def create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.first_request_at is None:
            self.first_request_at = asyncio.get_running_loop().time()
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to = str(form.get("To", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        planned = self.plan.get(to) or self.plan_from.get(str(form.get("From") or form.get("MessagingServiceSid")))
        if planned:
            status, code, *after = planned.pop(0)
            if status != 201:
                return self._error(status, code, ERRORS.get(status, (code, "Bad Request"))[1], *after)
        failure = self._random_error()
        if failure is not None:
            return self._error(failure, ERRORS[failure][0], ERRORS[failure][1])
        sid = f"SM{next(self._ids):032x}"
        message = Received(to, str(form.get("Body", "")), str(form.get("MessagingServiceSid") or form.get("From") or ""),
                           str(form.get("StatusCallback", "")), sid, str(form.get("ValidityPeriod", "")), self.now())
        if self.record:
            self.received.append(message)
            self.by_to[to] += 1
        return web.json_response(self._resource(message, form.get("From"), created=True), status=201)

    def _resource(self, m: Received, sender: object = None, created: bool = False) -> dict[str, object]:
        """The Message resource: as just accepted (the create answer), or as it is now (the list)."""
        sent_at = m.created + timedelta(seconds=self.send_after)
        sent = not created and sent_at <= self.now()
        status = "sent" if sent else ("queued" if sender else "accepted")
        stamp = format_datetime(m.created, usegmt=False)
        return {
            "sid": m.sid, "account_sid": ACCOUNT_SID, "to": m.to, "from": sender,
            "messaging_service_sid": None if sender else m.sender, "body": m.body,
            "status": status, "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "error_code": None,
            "error_message": None, "date_created": stamp, "date_updated": stamp,
            "date_sent": format_datetime(sent_at, usegmt=False) if sent else None,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{m.sid}.json", "subresource_uris": {},
        }

    async def list(self, request: web.Request) -> web.Response:
        """Twilio's message list: newest first; To/From filters; DateSent on, after (>) or before (<)."""
        self.list_requests += 1
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        if self.list_status != 200:
            return self._error(self.list_status, 20403 if self.list_status == 403 else None, "Unavailable")
        q = request.query
        size = min(1000, int(q.get("PageSize", "50")))
        bounds = {op: _when(q[key]) for key, op in (("DateSent>", ">="), ("DateSent<", "<"), ("DateSent", "="))
                  if key in q}
        found = []
        for m in reversed(self.received):
            if "To" in q and m.to != q["To"]:
                continue
            if "From" in q and m.sender != q["From"]:
                continue
            sent_at = m.created + timedelta(seconds=self.send_after)
            if bounds and sent_at > self.now():
                continue  # not sent yet: no date_sent to filter on
            if ">=" in bounds and sent_at < bounds[">="]:
                continue
            if "<" in bounds and sent_at >= bounds["<"]:
                continue
            if "=" in bounds and sent_at.date() != bounds["="].date():
                continue
            found.append(self._resource(m))
            if len(found) == size:
                break
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        return web.json_response({"messages": found, "end": max(0, len(found) - 1), "first_page_uri": uri,
                                  "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None,
                                  "start": 0, "uri": uri})

    @staticmethod
    def _error(status: int, code: int | None, message: str, retry_after: str | None = None) -> web.Response:
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        return web.Response(status=status, content_type="application/json", headers=headers, text=json.dumps(
            {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
             "status": status}))

    def duplicates(self) -> int:
        """Extra copies received beyond the first, over all numbers."""
        return sum(n - 1 for n in self.by_to.values() if n > 1)


def _when(value: str) -> datetime:
    value = value.strip()
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def start(fake: FakeTwilio, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{bound}"


class FastProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive, answering every Messages POST with 201 and a Message body, with as little
    work as possible: the benchmark measures the client, so the server must not be the limit."""

    count = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            FastProtocol.count += 1
            if b"authorization: basic " not in head:
                body = b'{"code": 20003, "message": "Authenticate", "status": 401}'
                status = b"401 Unauthorized"
            else:
                sid = f"SM{FastProtocol.count:032x}"
                body = (b'{"sid": "%s", "account_sid": "%s", "status": "accepted", "num_segments": "1", '
                        b'"direction": "outbound-api", "api_version": "2010-04-01", "date_created": '
                        b'"Sat, 28 Nov 2026 08:00:00 +0000", "date_updated": "Sat, 28 Nov 2026 08:00:00 +0000"}'
                        % (sid.encode(), ACCOUNT_SID.encode()))
                status = b"201 Created"
            self.transport.write(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"  # type: ignore[attr-defined]
                                 % (status, len(body), body))


async def serve_fast(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FastProtocol, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--full", action="store_true", help="the aiohttp fake (plans, records) instead of the fast one")
    args = parser.parse_args()
    if args.full:
        fake = FakeTwilio()  # keeps messages: reconciliation looks them up
        web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=1024)
    else:
        asyncio.run(serve_fast(args.port))


if __name__ == "__main__":
    main()
