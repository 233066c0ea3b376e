"""Fixtures for campaign tests: a service on a controllable clock, and helpers to write warnings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from alerts.app import Service
from alerts.clock import SHANGHAI, ManualClock
from alerts.settings import load_settings
from alerts.store import drafts as draft_store
from alerts.store.migrate import upgrade


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(local(2027, 6, 1, 10, 0))


@pytest.fixture
async def service(config_dir: Path, database_url: str, clock: ManualClock) -> AsyncIterator[Service]:
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url})
    svc = Service(settings, clock=clock)
    await upgrade(svc.db)
    try:
        yield svc
    finally:
        await svc.close()


async def add_warning_draft(svc: Service, areas: list[str], *, state: str = "pending", kind: str = "warning",
                            exercise: bool = False) -> int:
    """A routed warning draft over these townships, as the pipeline would write it."""
    now = svc.clock.now()
    async with svc.db.write() as conn:
        draft_id = await draft_store.create(
            conn, alert_id=None, kind=kind, hazard="rainstorm", level="orange", group_key=f"chain:test{now}",
            exercise=exercise, created_by="system", at=now, expires_at=None,
            items=[draft_store.NewMessage(route="r", template_id="rainstorm.orange.residents.sms", template_hash="x",
                                          template_reviewed=True, audience="residents", channel="sms",
                                          language="zh-CN", areas=areas, text="暴雨橙色预警")])
        if state != "pending":
            await draft_store.transition(conn, draft_id, "pending", state, at=now, by="tester", reason="test")
    return draft_id
