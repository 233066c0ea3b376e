"""IM robots are paced per robot so that the service's limit (DingTalk and WeCom: 20 messages a
minute per robot) is never hit; a robot that is throttled anyway rests for the window and then gets
every message, none lost. Windows are scaled down (20 per 2 s) so the test takes seconds."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from alerts.channels.webhook import Target, WebhookChannel
from alerts.clock import Clock
from alerts.outbox.worker import Worker
from alerts.settings.channels import ChannelsConfig
from alerts.store import drafts as draft_store
from alerts.store import problems
from alerts.store.tables import deliveries, delivery_attempts

LIMIT = 20
WINDOW = 2.0


@dataclass
class RobotServer:
    """DingTalk and WeCom robots that count per robot in a sliding window, as the services do: over the
    limit, DingTalk answers 130101 and throttles the robot for `penalty` seconds; WeCom answers 45009."""

    base: str = ""
    penalty: float = 1.5
    accepted: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    texts: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    throttled_until: dict[str, float] = field(default_factory=dict)
    violations: int = 0
    throttle_answers: int = 0

    def _take(self, robot: str) -> bool:
        now = time.monotonic()
        if self.throttled_until.get(robot, 0.0) > now:
            self.throttle_answers += 1
            return False
        recent = [t for t in self.accepted[robot] if t > now - WINDOW]
        if len(recent) >= LIMIT:
            self.violations += 1
            self.throttle_answers += 1
            return False
        self.accepted[robot].append(now)
        return True

    async def dingtalk(self, request: web.Request) -> web.Response:
        robot = request.query["access_token"]
        body = await request.json()
        if not self._take(robot):
            self.throttled_until.setdefault(robot, time.monotonic() + self.penalty)
            return web.json_response({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        self.texts[robot].append(body["text"]["content"])
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def wecom(self, request: web.Request) -> web.Response:
        robot = request.query["key"]
        body = await request.json()
        if not self._take(robot):
            return web.json_response({"errcode": 45009, "errmsg": "api freq out of limit"})
        self.texts[robot].append(body["text"]["content"])
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def server() -> AsyncIterator[RobotServer]:
    state = RobotServer()
    app = web.Application()
    app.router.add_post("/robot/send", state.dingtalk)
    app.router.add_post("/cgi-bin/webhook/send", state.wecom)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield state
    finally:
        await runner.cleanup()


def channels(server: RobotServer, *, throttle_seconds: float = 1.5) -> dict[str, WebhookChannel]:
    async def resolve(address: str) -> Target:
        robot = address.removeprefix("contact:")
        path = "/robot/send?access_token=" if robot.startswith("ding") else "/cgi-bin/webhook/send?key="
        return Target(url=f"{server.base}{path}{robot}", secret=None, hint=f"机器人 {robot}")

    return {kind: WebhookChannel(kind, resolve, allow_http_hosts=["127.0.0.1"], throttle_seconds=throttle_seconds)
            for kind in ("dingtalk", "wecom")}


def config() -> ChannelsConfig:
    pace = {"messages": LIMIT, "window_seconds": WINDOW, "burst": 3}
    return ChannelsConfig.model_validate({"sms": {"concurrency": 8}, "robots": {"dingtalk": pace, "wecom": pace}})


async def queue_for_robots(database: Any, robots: dict[str, int]) -> None:
    """One warning draft with a message per text; each robot (contact:<name>) gets `n` of them."""
    now = datetime.now(UTC)
    most = max(robots.values())
    items = [draft_store.NewMessage(route="t", template_id="t", template_hash="h", template_reviewed=True,
                                    audience="schools", channel="im", language="zh-CN", areas=["140581001"],
                                    text=f"暴雨红色预警 第{k}条：请停课避险") for k in range(most)]
    async with database.write() as conn:
        draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level="red",
                                            group_key="chain:robots", exercise=False, created_by="t", at=now,
                                            expires_at=None, items=items)
        await draft_store.transition(conn, draft_id, "pending", "approved", at=now)
        record = await draft_store.get(conn, draft_id)
        assert record is not None
        rows = []
        for robot, n in robots.items():
            kind = "dingtalk" if robot.startswith("ding") else "wecom"
            rows += [dict(message_id=m.id, recipient_key=f"c:{robot}", channel=kind, address=f"contact:{robot}",
                          priority=55, state="queued", attempts=0, in_doubt=False, next_attempt_at=now, expires_at=None,
                          created_at=now, updated_at=now, error="") for m in record.messages[:n]]
        await conn.execute(deliveries.insert(), rows)
        await draft_store.transition(conn, draft_id, "approved", "dispatching", at=now)


async def run_until_done(database: Any, worker: Worker, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await worker.run_once()
        async with database.read() as conn:
            open_ = (await conn.execute(select(func.count()).where(
                deliveries.c.state.in_(("queued", "in_flight"))))).scalar()
        if not open_:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("deliveries still open")


async def test_each_robot_is_paced_below_its_limit_so_no_message_is_ever_throttled(
        database: Any, server: RobotServer) -> None:
    await queue_for_robots(database, {"ding-a": 45, "wecom-b": 45, "ding-c": 8})
    chans = channels(server)
    try:
        await run_until_done(database, Worker(database, chans, config(), Clock()))
    finally:
        for ch in chans.values():
            await ch.close()
    assert server.violations == 0 and server.throttle_answers == 0
    for robot, n in {"ding-a": 45, "wecom-b": 45, "ding-c": 8}.items():
        assert len(server.texts[robot]) == n == len(set(server.texts[robot])), robot
    async with database.read() as conn:
        states = {r[0] for r in await conn.execute(select(deliveries.c.state))}
        spent = (await conn.execute(select(func.max(deliveries.c.attempts)))).scalar()
    assert states == {"sent"} and spent == 1, "waiting for a robot's turn spends no attempt"


async def test_the_robot_server_throttles_an_unpaced_sender(server: RobotServer) -> None:
    """The control: the same server does punish a burst beyond the limit, so the pacing above is real."""
    chans = channels(server)
    from alerts.channels.base import Outbound

    try:
        for k in range(LIMIT + 2):
            await chans["dingtalk"].send(Outbound(k, 1, 1, "dingtalk", "contact:ding-x", f"第{k}条"))
    finally:
        await chans["dingtalk"].close()
    assert server.violations == 1 and len(server.texts["ding-x"]) == LIMIT


async def test_a_throttled_robot_rests_then_gets_every_message_none_lost(database: Any, server: RobotServer) -> None:
    server.throttled_until["ding-d"] = time.monotonic() + 1.5  # throttled before we send anything
    await queue_for_robots(database, {"ding-d": 10})
    chans = channels(server, throttle_seconds=1.5)  # DingTalk's ten minutes, scaled down
    worker = Worker(database, chans, config(), Clock())
    try:
        await worker.run_once()
        async with database.read() as conn:
            opened = await problems.get(conn, "channel_paused:dingtalk:contact:ding-d")
        assert opened is not None and opened.resolved_at is None and "钉钉机器人" in opened.what
        await run_until_done(database, worker)
    finally:
        for ch in chans.values():
            await ch.close()
    assert sorted(server.texts["ding-d"]) == sorted(f"暴雨红色预警 第{k}条：请停课避险" for k in range(10))
    async with database.read() as conn:
        rows = list(await conn.execute(select(deliveries)))
        outcomes = collections.Counter(r.outcome for r in await conn.execute(select(delivery_attempts)))
        closed = await problems.get(conn, "channel_paused:dingtalk:contact:ding-d")
    assert {r.state for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)
    assert outcomes["ok"] == 10 and outcomes["paused"] >= 1 and not outcomes["permanent"]
    assert closed is not None and closed.resolved_at is not None, "the robot sends again: problem resolved"
