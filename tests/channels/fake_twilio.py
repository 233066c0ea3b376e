"""A local HTTP server that answers like Twilio's Messages API, for tests and benchmarks.

POST /2010-04-01/Accounts/{sid}/Messages.json answers 201 with a Message JSON body; a plan can
make given numbers answer with errors first (429, 500, 400 with a Twilio error code).
Run alone (for benchmarks in another process): python -m tests.channels.fake_twilio --port N
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
MESSAGING_SERVICE_SID = "MG" + "1" * 32

ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


@dataclass
class Received:
    to: str
    body: str
    sender: str
    status_callback: str
    sid: str


@dataclass
class FakeTwilio:
    """Behaviour and records of the fake; `plan[to]` lists (status, code) answers to give first."""

    plan: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)
    delay: float = 0.0
    record: bool = True
    received: list[Received] = field(default_factory=list)
    requests: int = 0
    by_to: Counter[str] = field(default_factory=Counter)
    first_request_at: float | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create)
        return app

    async def create(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.first_request_at is None:
            self.first_request_at = asyncio.get_running_loop().time()
        auth = request.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if auth != expected or request.match_info["sid"] != ACCOUNT_SID:
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        to = str(form.get("To", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        planned = self.plan.get(to)
        if planned:
            status, code = planned.pop(0)
            if status != 201:
                return self._error(status, code, ERRORS.get(status, (code, "Bad Request"))[1])
        sid = f"SM{next(self._ids):032x}"
        if self.record:
            self.received.append(Received(to, str(form.get("Body", "")),
                                          str(form.get("MessagingServiceSid") or form.get("From") or ""),
                                          str(form.get("StatusCallback", "")), sid))
            self.by_to[to] += 1
        body = {
            "sid": sid, "account_sid": ACCOUNT_SID, "to": to, "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"),
            "status": "queued" if form.get("From") else "accepted", "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "price": None, "price_unit": "USD", "error_code": None,
            "error_message": None, "date_created": "Sat, 28 Nov 2026 08:00:00 +0000",
            "date_updated": "Sat, 28 Nov 2026 08:00:00 +0000", "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json", "subresource_uris": {},
        }
        return web.json_response(body, status=201)

    @staticmethod
    def _error(status: int, code: int | None, message: str) -> web.Response:
        return web.Response(status=status, content_type="application/json", text=json.dumps(
            {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
             "status": status}))

    def duplicates(self) -> int:
        """Extra copies received beyond the first, over all numbers."""
        return sum(n - 1 for n in self.by_to.values() if n > 1)


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
        fake = FakeTwilio(record=False)
        web.run_app(fake.app(), host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=1024)
    else:
        asyncio.run(serve_fast(args.port))


if __name__ == "__main__":
    main()
