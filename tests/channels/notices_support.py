"""Shared set-up for the notices tests: a real service with organisations, and an approved warning."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import select

from alerts.app import Service
from alerts.clock import SHANGHAI, Clock, ManualClock
from alerts.settings import load_settings
from alerts.store import users as user_store
from alerts.store.migrate import upgrade
from alerts.store.tables import deliveries, messages

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "alerts" / "demo" / "samples" / "constructed-gaoping-rainstorm-orange.gbt35965.xml"
KEY = Fernet.generate_key().decode()
# Ten minutes after the demo warning was issued, so it has not expired yet.
WARNING_TIME = datetime(2026, 7, 12, 5, 40, tzinfo=SHANGHAI)

ORGANISATIONS_CSV = """key,name,kind,area,contacts
school-mishan-1,米山镇第一中学,school,米山镇,notice:学校门口宣传栏; email:head@mishan1.school.example.cn|name=王校长
village-sanjia,三甲村,village,140581102,notice:村委会宣传栏
"""


def write_notices_yaml(config_dir: Path, *, email_security: str = "none") -> None:
    (config_dir / "notices.yaml").write_text(
        "webhooks:\n  allow_http_hosts: [127.0.0.1]\n  timeout_seconds: 5\n"
        f"email:\n  security: {email_security}\n  timeout_seconds: 5\n", encoding="utf-8")


async def make_service(config_dir: Path, database_url: str, **env: str) -> Service:
    write_notices_yaml(config_dir)
    environ = {"ALERTS_DATABASE_URL": database_url, "ALERTS_ENCRYPTION_KEY": KEY, **env}
    settings = load_settings(config_dir, env=environ)
    service = Service(settings, clock=ManualClock(WARNING_TIME))
    await upgrade(service.db)
    return service


async def import_organisations(service: Service, text: str = ORGANISATIONS_CSV) -> Any:
    from alerts.crypto import cipher_from
    from alerts.organisations import OrganisationReport, parse_organisations_csv, upsert_organisations
    from alerts.settings.notices import notices_config

    rows, problems = parse_organisations_csv(
        text, service.areas, allow_http_hosts=notices_config(service.settings).webhooks.allow_http_hosts)
    assert not problems, problems
    report = OrganisationReport()
    cipher = cipher_from(service.settings.secrets)
    assert cipher is not None
    async with service.db.write() as conn:
        await upsert_organisations(conn, rows, cipher=cipher, at=Clock().now(), report=report)
    return report


async def approve_sample(service: Service, *, exercise: bool = False, sample: bytes | None = None) -> int:
    """Receive the demo rainstorm warning (or a drill of it) and approve its draft; return the draft id."""
    data = sample if sample is not None else SAMPLE.read_bytes()
    if exercise:
        data = data.replace(b"<status>Actual</status>", b"<status>Exercise</status>")
        data = data.replace(b"20260712053000</identifier>", b"20260712053001</identifier>")
    intake = await service.receive(data, source="test")
    assert intake.drafts.created, intake
    draft_id = intake.drafts.created[0]
    async with service.db.write() as conn:
        approver = await user_store.by_name(conn, "notice.approver")
        if approver is None:
            approver = await user_store.add(conn, "notice.approver", ["approver"], "approver-password-1",
                                            at=Clock().now())
    decision = await service.actions.approve(approver, draft_id, origin="test")
    assert decision.state in ("dispatching", "sent"), decision
    return draft_id


async def message_ids(service: Service, draft_id: int, **where: str) -> list[int]:
    q = select(messages.c.id).where(messages.c.draft_id == draft_id)
    for key, value in where.items():
        q = q.where(getattr(messages.c, key) == value)
    async with service.db.read() as conn:
        return [int(r.id) for r in await conn.execute(q.order_by(messages.c.id))]


async def delivery_rows(service: Service, channel: str) -> list[Any]:
    async with service.db.read() as conn:
        return list(await conn.execute(select(deliveries).where(deliveries.c.channel == channel)
                                       .order_by(deliveries.c.id)))
