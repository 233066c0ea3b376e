"""Test support: a real Service on a real database with a ManualClock, users, and sample alerts."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from alerts.app import Service
from alerts.clock import ManualClock
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.settings import load_settings
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from alerts.store.users import User

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "alerts/demo/samples/constructed-gaoping-rainstorm-orange.gbt35965.xml"
# Five minutes after the sample's issue time (05:30 Asia/Shanghai).
START = datetime(2026, 7, 11, 21, 35, tzinfo=UTC)
COLOURS = {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"}
GRADES = {"blue": "[Ⅳ级/一般]", "yellow": "[Ⅲ级/较重]", "orange": "[Ⅱ级/严重]", "red": "[Ⅰ级/特别严重]"}
LEVEL_WORDS = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}

PASSWORDS = {name: f"{name}-password-1" for name in
             ("wang.approver", "zhao.approver", "li.editor", "chen.expert", "liu.observer", "admin", "qx.campaigner",
              "feed.source")}
ROLES = {"wang.approver": ["approver"], "zhao.approver": ["approver"], "li.editor": ["editor"],
         "chen.expert": ["expert"], "liu.observer": ["observer"], "admin": ["admin"],
         "qx.campaigner": ["campaigner"], "feed.source": ["source"]}
PHONES = {"wang.approver": "+8613900139000", "zhao.approver": "+8613900139001"}


@functools.cache
def password_hash(password: str) -> str:
    """argon2 is slow on purpose; hash each test password once per run."""
    return user_store.hash_password(password)


def sample_alert(*, level: str = "orange", identifier: str = "14058141600000_20260712053000", status: str = "Actual",
                 msg_type: str = "Alert", expires: str = "2026-07-12 17:30:00+08:00", references: str = "") -> bytes:
    """The demo rainstorm sample, at another level, identity, status or expiry."""
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("<severity>Orange</severity>", f"<severity>{COLOURS[level]}</severity>")
    text = text.replace("暴雨橙色预警", f"暴雨{LEVEL_WORDS[level]}预警").replace("[Ⅱ级/严重]", GRADES[level])
    text = text.replace("14058141600000_20260712053000", identifier)
    text = text.replace("<status>Actual</status>", f"<status>{status}</status>")
    text = text.replace("<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>"
                        + (f"\n  <references>{references}</references>" if references else ""))
    text = text.replace("<expires>2026-07-12 17:30:00+08:00</expires>", f"<expires>{expires}</expires>")
    return text.encode("utf-8")


@dataclass
class World:
    service: Service
    clock: ManualClock
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    async def ingest(self, **kwargs: str) -> int:
        intake = await self.service.receive(sample_alert(**kwargs), source="test")
        assert intake.rejected is None, intake.rejected
        assert intake.drafts.created, intake.drafts.problems
        return intake.drafts.created[0]


async def build_world(config_dir: Path, database_url: str, *, workflow_yaml: str | None = None,
                      residents: bool = True, tokens: bool = False) -> World:
    if workflow_yaml is not None:
        (config_dir / "workflow.yaml").write_text(workflow_yaml, encoding="utf-8")
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url})
    clock = ManualClock(START)
    service = Service(settings, clock=clock)
    await upgrade(service.db)
    world = World(service, clock)
    async with service.db.write() as conn:
        for name, roles in ROLES.items():
            user = await user_store.add(conn, name, roles, PASSWORDS[name], at=clock.now(), phone=PHONES.get(name),
                                        password_hash=password_hash(PASSWORDS[name]))
            world.users[name] = user
            if tokens:
                world.tokens[name] = await user_store.create_token(conn, user, "test", at=clock.now())
        if residents:
            rows, problems = parse_residents_csv((ROOT / "config/demo/residents.csv").read_text(), service.areas)
            assert not problems
            await upsert_residents(conn, rows, at=clock.now(), report=ImportReport())
    return world
