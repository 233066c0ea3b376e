"""Test support for events: a World with department users, the 叫应 roster, residents, and the SMS sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alerts.app import Service
from alerts.clock import ManualClock
from alerts.events.people import parse_people_csv, upsert_people
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.settings import load_settings
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from tests.workflow.support import PASSWORDS, ROLES, ROOT, START, World, password_hash

DATA = Path(__file__).resolve().parents[1] / "data" / "events"
PUBLIC = "https://alerts.gaoping.example.cn"
LINK_SECRET = "test-link-secret-not-for-production"
# Users acting for member departments (departments.yaml members) and for 宣传部.
EVENT_USERS = {"jy.officer": ["department"], "rs.officer": ["department"], "ma.publicity": ["publicity"],
               "xu.publicity": ["publicity"]}
for _name in EVENT_USERS:
    PASSWORDS.setdefault(_name, f"{_name}-password-1")


async def events_world(config_dir: Path, database_url: str, *, env: dict[str, str] | None = None,
                       people: bool = True, tokens: bool = False) -> World:
    """A real Service (ManualClock at 05:35 Asia/Shanghai, night shift on duty) on a real database."""
    service_yaml = config_dir / "service.yaml"
    service_yaml.write_text(service_yaml.read_text(encoding="utf-8").replace(
        "public_base_url: http://127.0.0.1:8080", f"public_base_url: {PUBLIC}"), encoding="utf-8")
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url, "ALERTS_LINK_SECRET": LINK_SECRET,
                                              **(env or {})})
    clock = ManualClock(START)
    service = Service(settings, clock=clock)
    await upgrade(service.db)
    world = World(service, clock)
    async with service.db.write() as conn:
        for name, roles in {**ROLES, **EVENT_USERS}.items():
            if name in ("wang.approver", "zhao.approver"):
                roles = [*roles, "coordinator"]  # 应急局: approves, and runs events and 叫应
            user = await user_store.add(conn, name, roles, PASSWORDS[name], at=clock.now(),
                                        password_hash=password_hash(PASSWORDS[name]))
            world.users[name] = user
            if tokens:
                world.tokens[name] = await user_store.create_token(conn, user, "test", at=clock.now())
        rows, problems = parse_residents_csv((ROOT / "config/demo/residents.csv").read_text(), service.areas)
        assert not problems
        await upsert_residents(conn, rows, at=clock.now(), report=ImportReport())
        if people:
            persons, problems = parse_people_csv((DATA / "people.csv").read_text(encoding="utf-8"), service.areas)
            assert not problems, problems
            await upsert_people(conn, persons, at=clock.now(), report=ImportReport())
    return world


def sent(world: World) -> list[dict[str, Any]]:
    """What the log channel sent, oldest first (numbers masked as the log keeps them)."""
    path = world.service.settings.path(world.service.settings.channels.log_file)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def sent_to(world: World, phone: str) -> list[str]:
    from alerts.recipients import mask_phone

    return [s["text"] for s in sent(world) if s["to"] == mask_phone(phone)]
