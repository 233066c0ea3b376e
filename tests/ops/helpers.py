"""Shared pieces of the operations tests: free ports, a config for real processes, a Twilio-like server."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from alerts.feeds.sources import shift_times

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "alerts" / "demo" / "samples" / "constructed-gaoping-rainstorm-orange.gbt35965.xml"
TOWNSHIPS = ["140581001", "140581002", "140581003", "140581101", "140581102", "140581103", "140581104",
             "140581105", "140581106", "140581107", "140581108", "140581109", "140581201", "140581202",
             "140581203"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float = 60.0, interval: float = 0.2,
                   what: str = "condition") -> Any:
    """Poll until the predicate returns something truthy; bounded, so a hang becomes a clear failure."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[str] | None = None) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return int(r.status)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")


def cli(args: list[str], env: dict[str, str], cwd: Path | None = None, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real `alerts` command line in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "alerts", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"alerts {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def user_with_token(name: str, role: str, env: dict[str, str], *config: str, cwd: Path | None = None) -> str:
    """An enrolled user and an API token of theirs, made as people do: the operator adds the user,
    the owner sets a password with the one-time link and creates the token with it."""
    password = "correct-horse-battery-7"  # the owner's own choice (never their user name)
    link = cli(["users", "add", name, "--role", role, *config], env, cwd=cwd).stdout.strip().splitlines()[-1]
    cli(["users", "enrol", link, *config], env, cwd=cwd, stdin=password + "\n")
    out = cli(["tokens", "create", name, *config], env, cwd=cwd, stdin=password + "\n").stdout
    return out.strip().splitlines()[-1].strip()


def set_yaml_value(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert n == 1, f"{path.name}: {pattern!r} not found"
    path.write_text(new, encoding="utf-8")


def cap_alert(identifier: str, areas: list[str], *, now: datetime | None = None, level: str = "Orange") -> bytes:
    """The sample rainstorm warning, re-timed to now, with its own identifier and townships."""
    data = shift_times(SAMPLE.read_bytes(), now or datetime.now(UTC)).decode("utf-8")
    data = re.sub(r"<identifier>[^<]*</identifier>", f"<identifier>{escape(identifier)}</identifier>", data)
    data = re.sub(r"\s*<polygon>[^<]*</polygon>", "", data)
    data = re.sub(r"(\s*<geocode>[^<]*</geocode>)+", "".join(f"\n      <geocode>{a}000</geocode>" for a in areas), data)
    data = data.replace("<severity>Orange</severity>", f"<severity>{level}</severity>")
    return data.encode("utf-8")


def residents_csv(count: int, areas: list[str] = TOWNSHIPS, first: int = 0) -> str:
    lines = ["phone,area,groups,language,village,consent"]
    for i in range(first, first + count):
        lines.append(f"139{i:08d},{areas[i % len(areas)]},,zh-CN,,test")
    return "\n".join(lines) + "\n"


@dataclass
class SmsRequest:
    to: str
    body: str
    sender: str
    at: float


@dataclass
class TwilioLikeServer:
    """A local HTTP server that answers like Twilio's Messages API and records every request."""

    delay_seconds: float = 0.0
    requests: list[SmsRequest] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _messages(self, request: web.Request) -> web.Response:
        form = await request.post()
        sid = f"SM{len(self.requests):032x}"
        self.requests.append(SmsRequest(to=str(form.get("To", "")), body=str(form.get("Body", "")),
                                        sender=str(form.get("From") or form.get("MessagingServiceSid") or ""),
                                        at=time.monotonic()))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        account = request.match_info["account"]
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return web.json_response({
            "sid": sid, "account_sid": account, "to": form.get("To"), "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"), "body": form.get("Body"), "status": "queued",
            "num_segments": "1", "direction": "outbound-api", "date_created": now, "date_updated": now,
            "date_sent": None, "price": None, "error_code": None, "error_message": None, "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
        }, status=201)

    async def _list(self, request: web.Request) -> web.Response:
        """Twilio's message list, newest first, filtered by To (reconciliation of in-doubt deliveries)."""
        to = request.query.get("To")
        found = [{"sid": f"SM{i:032x}", "to": r.to, "body": r.body, "status": "sent", "date_created": None,
                  "date_sent": None} for i, r in reversed(list(enumerate(self.requests))) if to in (None, r.to)]
        size = int(request.query.get("PageSize", "50"))
        uri = request.path
        return web.json_response({"messages": found[:size], "end": 0, "first_page_uri": uri, "next_page_uri": None,
                                  "page": 0, "page_size": size, "previous_page_uri": None, "start": 0, "uri": uri})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._messages)
        app.router.add_get("/2010-04-01/Accounts/{account}/Messages.json", self._list)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def twilio_env(server: TwilioLikeServer) -> dict[str, str]:
    return {"ALERTS_TWILIO_API_BASE_URL": server.base_url, "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token", "TWILIO_FROM": "+15005550006"}


def base_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ALERTS_"))}
    env["ALERTS_DATABASE_URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env
