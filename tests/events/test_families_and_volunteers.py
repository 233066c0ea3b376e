"""五进: families (through 妇联's contacts) and 科技志愿服务队 are audiences of their own: their contacts import
like any organisation's, and a warning reaches their groups with the words written for them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.fernet import Fernet

from alerts.areas import Areas
from alerts.crypto import cipher_from
from alerts.organisations import OrganisationReport, parse_organisations_csv, upsert_organisations
from tests.events.support import events_world
from tests.events.test_publishing import Robot
from tests.web.conftest import free_port
from tests.workflow.support import World

KEY = Fernet.generate_key().decode()


@pytest.fixture
async def setting(config_dir: Path, database_url: str) -> AsyncIterator[tuple[World, Robot, int]]:
    robot = Robot()
    app = web.Application()
    app.router.add_post("/cgi-bin/webhook/send", robot.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    (config_dir / "notices.yaml").write_text("webhooks:\n  allow_http_hosts: [127.0.0.1]\n", encoding="utf-8")
    world = await events_world(config_dir, database_url, env={"ALERTS_ENCRYPTION_KEY": KEY})
    try:
        yield world, robot, port
    finally:
        await runner.cleanup()
        await world.service.close()


def test_family_and_volunteer_contacts_import_and_unknown_kinds_are_named(config_dir: Path) -> None:
    from alerts.settings import load_settings

    areas = Areas(load_settings(config_dir).areas)
    rows, problems = parse_organisations_csv(
        "key,name,kind,area,contacts\n"
        "fl-mishan,米山镇妇联巾帼志愿者群,family,米山镇,sms:13800000000\n"
        "kx-team-1,米山镇科技志愿服务队,volunteer_team,米山镇,sms:13800000001\n"
        "x,某群,households,米山镇,sms:13800000002\n", areas)
    assert [r.kind for r in rows] == ["family", "volunteer_team"]
    [problem] = problems
    assert problem.row == 4 and "households" in problem.problem and "volunteer_team" in problem.problem


async def test_an_orange_rainstorm_reaches_family_and_volunteer_groups_with_their_own_texts(
        setting: tuple[World, Robot, int]) -> None:
    world, robot, port = setting
    url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send"
    rows, problems = parse_organisations_csv(
        "key,name,kind,area,contacts\n"
        f"fl-mishan,米山镇妇联家庭群,family,米山镇,wecom:{url}?key=f\n"
        f"kx-team-1,米山镇科技志愿服务队,volunteer_team,三甲镇,wecom:{url}?key=v\n", world.service.areas,
        allow_http_hosts=["127.0.0.1"])
    assert not problems
    async with world.service.db.write() as conn:
        await upsert_organisations(conn, rows, cipher=cipher_from(world.service.settings.secrets),
                                   at=world.clock.now(), report=OrganisationReport())
    draft_id = await world.ingest(level="orange")
    decision = await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    assert decision.state == "dispatching"
    await world.service.worker.drain()
    texts = sorted(r["text"]["content"] for r in robot.received)
    assert len(texts) == 2
    assert any("请各位家长和家人们" in t and "留守儿童" in t for t in texts)
    assert any("请各科技志愿服务队" in t and "自身安全第一" in t for t in texts)
