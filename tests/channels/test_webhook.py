"""IM robots against local servers that check each format and signature as the real services document them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from alerts.channels.base import Ok, Outbound, Paused, Permanent, Retry, send_timed
from alerts.channels.webhook import Target, TargetError, WebhookChannel, validate_webhook_url

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "c0ffee0123456789abcdef"
DING_SECRET = "SECb6d1f3e2a9c44c0e8a7d5f0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"
FEISHU_HOOK = "2d3e4f5a-6b7c-8d9e-0f1a-2b3c4d5e6f7a"
FEISHU_SECRET = "qW3eR5tY7uI9oP1aS3dF5g"
GENERIC_SECRET = "generic-shared-secret-123"


@dataclass
class Robots:
    """Local stand-ins for the four services; each checks what the real one checks."""

    base: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    # Replies to hand out in order (kind -> list of (status, body, headers)); empty: success.
    replies: dict[str, list[tuple[int, Any, dict[str, str]]]] = field(default_factory=dict)

    def reply(self, kind: str, default: Any) -> web.Response:
        queue = self.replies.get(kind) or []
        status, body, headers = queue.pop(0) if queue else (200, default, {})
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, headers=headers, content_type="application/json")

    async def wecom(self, request: web.Request) -> web.Response:
        body = await request.json()
        if request.query.get("key") != WECOM_KEY:
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        assert body["msgtype"] in ("text", "markdown"), body
        content = body[body["msgtype"]]["content"]
        self.received.append({"kind": "wecom", "msgtype": body["msgtype"], "content": content})
        return self.reply("wecom", {"errcode": 0, "errmsg": "ok"})

    async def dingtalk(self, request: web.Request) -> web.Response:
        q = request.query  # aiohttp URL-decodes the query, as DingTalk does before comparing
        if q.get("access_token") != DING_TOKEN:
            return web.json_response({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp, sign = q.get("timestamp", ""), q.get("sign", "")
        expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(),
                                             hashlib.sha256).digest()).decode()
        # DingTalk rejects a timestamp more than an hour away from its clock.
        if not timestamp.isdigit() or abs(int(timestamp) - time.time() * 1000) > 3_600_000 or sign != expected:
            return web.json_response({"errcode": 310000, "errmsg": "sign not match"})
        body = await request.json()
        assert body["msgtype"] == "text"
        self.received.append({"kind": "dingtalk", "content": body["text"]["content"],
                              "raw_query": request.raw_path.partition("?")[2]})
        return self.reply("dingtalk", {"errcode": 0, "errmsg": "ok"})

    async def feishu(self, request: web.Request) -> web.Response:
        if request.match_info["hook"] != FEISHU_HOOK:
            return web.json_response({"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
        body = await request.json()
        timestamp, sign = body.get("timestamp", ""), body.get("sign", "")
        expected = base64.b64encode(hmac.new(f"{timestamp}\n{FEISHU_SECRET}".encode(), b"",
                                             hashlib.sha256).digest()).decode()
        if not str(timestamp).isdigit() or abs(int(timestamp) - time.time()) > 3600 or sign != expected:
            return web.json_response({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
        assert body["msg_type"] == "text"
        self.received.append({"kind": "feishu", "content": body["content"]["text"]})
        return self.reply("feishu", {"code": 0, "msg": "success", "data": {}})

    async def generic(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(GENERIC_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Signature", ""), expected):
            return web.json_response({"error": "bad signature"}, status=401)
        body = json.loads(raw)
        self.received.append({"kind": "webhook", "body": body, "delivery": request.headers.get("X-Alerts-Delivery")})
        return self.reply("webhook", {"ok": True})

    async def huge(self, request: web.Request) -> web.Response:
        return web.Response(text='{"errcode":0,"pad":"' + "x" * 200_000 + '"}', content_type="application/json")

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"errcode": 0})

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}")


@pytest.fixture
async def robots() -> AsyncIterator[Robots]:
    state = Robots()
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", state.wecom)
    app.router.add_post("/robot/send", state.dingtalk)
    app.router.add_post("/open-apis/bot/v2/hook/{hook}", state.feishu)
    app.router.add_post("/hooks/alerts", state.generic)
    app.router.add_post("/huge", state.huge)
    app.router.add_post("/slow", state.slow)
    app.router.add_post("/redirect", state.redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.base = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        await runner.cleanup()


def item(text: str = "高平市气象台发布暴雨橙色预警信号，请转告每户。", **kw: Any) -> Outbound:
    return Outbound(delivery_id=kw.pop("delivery_id", 41), message_id=7, draft_id=3, channel=kw.pop("channel", "im"),
                    address="contact:1", text=text, **kw)


def channel(kind: str, url: str, secret: str | None = None, **kw: Any) -> WebhookChannel:
    async def resolve(address: str) -> Target:
        assert address == "contact:1"
        return Target(url=url, secret=secret, hint="高平一中 …test")

    return WebhookChannel(kind, resolve, allow_http_hosts=["127.0.0.1"], **kw)


async def send(ch: WebhookChannel, out: Outbound) -> Any:
    try:
        return await ch.send(out)
    finally:
        await ch.close()


async def test_wecom_robot_gets_a_text_message_at_its_key_url(robots: Robots) -> None:
    outcome = await send(channel("wecom", f"{robots.base}/cgi-bin/webhook/send?key={WECOM_KEY}"), item())
    assert isinstance(outcome, Ok)
    assert robots.received == [{"kind": "wecom", "msgtype": "text",
                                "content": "高平市气象台发布暴雨橙色预警信号，请转告每户。"}]


async def test_wecom_text_over_2048_bytes_goes_as_markdown_and_over_4096_is_refused(robots: Robots) -> None:
    url = f"{robots.base}/cgi-bin/webhook/send?key={WECOM_KEY}"
    assert isinstance(await send(channel("wecom", url), item("雨" * 1000)), Ok)  # 3000 bytes
    assert robots.received[-1]["msgtype"] == "markdown"
    too_long = await send(channel("wecom", url), item("雨" * 1500))
    assert isinstance(too_long, Permanent) and too_long.code == "too_long"


async def test_dingtalk_request_carries_timestamp_and_url_encoded_hmac_sign(robots: Robots) -> None:
    url = f"{robots.base}/robot/send?access_token={DING_TOKEN}"
    outcome = await send(channel("dingtalk", url, DING_SECRET), item())
    assert isinstance(outcome, Ok), outcome
    [got] = robots.received
    assert got["content"].startswith("高平市气象台")
    raw_sign = got["raw_query"].partition("&sign=")[2]
    assert "+" not in raw_sign and "/" not in raw_sign and "=" not in raw_sign  # URL-encoded base64


async def test_dingtalk_with_the_wrong_secret_is_a_permanent_failure(robots: Robots) -> None:
    url = f"{robots.base}/robot/send?access_token={DING_TOKEN}"
    outcome = await send(channel("dingtalk", url, "SECwrong"), item())
    assert isinstance(outcome, Permanent) and outcome.code == "dingtalk_310000"
    assert "SECwrong" not in outcome.reason and DING_TOKEN not in outcome.reason


async def test_feishu_body_carries_timestamp_and_sign(robots: Robots) -> None:
    url = f"{robots.base}/open-apis/bot/v2/hook/{FEISHU_HOOK}"
    outcome = await send(channel("feishu", url, FEISHU_SECRET), item())
    assert isinstance(outcome, Ok), outcome
    assert robots.received[0]["content"].startswith("高平市气象台")
    wrong = await send(channel("feishu", url, "not-the-secret"), item())
    assert isinstance(wrong, Permanent) and wrong.code == "feishu_19021"


async def test_generic_webhook_signs_the_exact_body_in_x_signature(robots: Robots) -> None:
    outcome = await send(channel("webhook", f"{robots.base}/hooks/alerts", GENERIC_SECRET), item(title="暴雨橙色预警"))
    assert isinstance(outcome, Ok), outcome
    [got] = robots.received
    assert got["body"]["text"].startswith("高平市气象台") and got["body"]["title"] == "暴雨橙色预警"
    assert got["body"]["delivery_id"] == 41 and got["delivery"] == "41"
    unsigned = await send(channel("webhook", f"{robots.base}/hooks/alerts", "other-secret"), item())
    assert isinstance(unsigned, Permanent) and unsigned.code == "http_401"


@pytest.mark.parametrize(("kind", "path", "secret", "reply", "code"), [
    ("wecom", f"/cgi-bin/webhook/send?key={WECOM_KEY}", None, {"errcode": 45009, "errmsg": "api freq out of limit"},
     "wecom_45009"),
    ("dingtalk", f"/robot/send?access_token={DING_TOKEN}", DING_SECRET,
     {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, "dingtalk_130101"),
    ("dingtalk", f"/robot/send?access_token={DING_TOKEN}", DING_SECRET,
     {"errcode": 660026, "errmsg": "robot rate limited"}, "dingtalk_660026"),
    ("feishu", f"/open-apis/bot/v2/hook/{FEISHU_HOOK}", FEISHU_SECRET, {"code": 11232, "msg": "frequency limited psm"},
     "feishu_11232"),
])
async def test_rate_limit_codes_in_a_200_body_pause_that_robot_for_its_window(
        robots: Robots, kind: str, path: str, secret: str | None, reply: dict[str, Any], code: str) -> None:
    robots.replies[kind] = [(200, reply, {})]
    outcome = await send(channel(kind, robots.base + path, secret), item())
    # Not permanent, not this message's failure: the robot rests for the window (DingTalk: ten minutes).
    assert isinstance(outcome, Paused) and outcome.code == code and outcome.sender == "contact:1"
    assert outcome.after == (600.0 if kind == "dingtalk" else 60.0) and "限流" in outcome.problem


@pytest.mark.parametrize(("kind", "path", "reply", "code"), [
    ("wecom", f"/cgi-bin/webhook/send?key={WECOM_KEY}", {"errcode": 40008, "errmsg": "invalid message type"},
     "wecom_40008"),
    ("wecom", "/cgi-bin/webhook/send?key=removed-robot", None, "wecom_93000"),
    ("dingtalk", "/robot/send?access_token=gone", None, "dingtalk_300001"),
])
async def test_other_body_error_codes_are_permanent(robots: Robots, kind: str, path: str, reply: Any,
                                                    code: str) -> None:
    if reply:
        robots.replies[kind] = [(200, reply, {})]
    outcome = await send(channel(kind, robots.base + path), item())
    assert isinstance(outcome, Permanent) and outcome.code == code


async def test_http_429_pauses_the_robot_for_retry_after_5xx_retries_and_4xx_is_permanent(robots: Robots) -> None:
    url = f"{robots.base}/cgi-bin/webhook/send?key={WECOM_KEY}"
    robots.replies["wecom"] = [(429, {}, {"Retry-After": "17"}), (503, "busy", {}), (400, {}, {})]
    first = await send(channel("wecom", url), item())
    second = await send(channel("wecom", url), item())
    third = await send(channel("wecom", url), item())
    assert isinstance(first, Paused) and first.after == 17.0 and first.code == "http_429"
    assert isinstance(second, Retry) and second.after is None
    assert isinstance(third, Permanent) and third.code == "http_400"


async def test_responses_are_bounded_in_size_and_time(robots: Robots) -> None:
    big = await send(channel("wecom", f"{robots.base}/huge", max_response_bytes=4096), item())
    assert isinstance(big, Retry) and big.code == "body_too_large"
    slow = await send(channel("wecom", f"{robots.base}/slow", timeout_seconds=0.3), item())
    assert isinstance(slow, Retry) and slow.code == "timeout"


async def test_redirects_are_not_followed_so_the_key_cannot_leak(robots: Robots) -> None:
    outcome = await send(channel("wecom", f"{robots.base}/redirect"), item())
    assert isinstance(outcome, Permanent) and outcome.code == "http_302"
    assert robots.received == []


async def test_plain_http_is_refused_unless_the_host_is_allowed() -> None:
    assert validate_webhook_url("http://127.0.0.1:9/x", ["127.0.0.1"]) is None
    problem = validate_webhook_url(f"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}", [])
    assert problem and "https" in problem and WECOM_KEY not in problem
    assert validate_webhook_url("ftp://example.cn/x") is not None
    assert validate_webhook_url("https://user:pw@example.cn/x") is not None
    assert validate_webhook_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k") is None

    async def resolve(address: str) -> Target:
        return Target(url=f"http://10.0.0.1/cgi-bin/webhook/send?key={WECOM_KEY}", secret=None, hint="…aaa")

    refused = await WebhookChannel("wecom", resolve).send(item())
    assert isinstance(refused, Permanent) and refused.code == "bad_url"


async def test_network_errors_retry_without_showing_the_url_or_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/robot/send?access_token={DING_TOKEN}"
    timed = await send_timed(channel("dingtalk", url, DING_SECRET), item())
    assert isinstance(timed.outcome, Retry) and timed.outcome.code == "network"
    shown = timed.outcome.reason + caplog.text
    assert DING_TOKEN not in shown and DING_SECRET not in shown


async def test_an_unresolvable_contact_is_permanent() -> None:
    async def resolve(address: str) -> Target:
        raise TargetError("contact 1 no longer exists")

    outcome = await WebhookChannel("feishu", resolve).send(item())
    assert isinstance(outcome, Permanent) and outcome.code == "bad_contact"


async def test_exercise_messages_are_marked_as_drills(robots: Robots) -> None:
    url = f"{robots.base}/cgi-bin/webhook/send?key={WECOM_KEY}"
    assert isinstance(await send(channel("wecom", url), item(exercise=True)), Ok)
    assert robots.received[0]["content"].startswith("【演练】")
