"""A fresh install records no "missed" campaign for dates before it existed (its first account)."""

from __future__ import annotations

from alerts.app import Service
from alerts.campaigns.scheduling import CampaignRunner
from alerts.clock import ManualClock
from alerts.store import users as user_store
from tests.workflow.support import password_hash

from .conftest import local
from .test_scheduling import occurrences


async def test_a_fresh_install_misses_nothing_from_before_it_existed(service: Service, clock: ManualClock) -> None:
    # Installed on 8 June 15:00: flood season's 1 June and 8 June 10:00 were before the service existed.
    clock.set(local(2027, 6, 8, 15, 0))
    async with service.db.write() as conn:
        await user_store.add(conn, "admin", ["admin"], "admin-password-1", at=clock.now(),
                             password_hash=password_hash("admin-password-1"))
    runner = CampaignRunner(service)
    report = await runner.run_due("flood_season")
    assert report.missed == [] and report.fired == []
    assert await occurrences(service, "flood_season") == []
    # Down a week after install: that one is missed, as before.
    clock.set(local(2027, 6, 15, 15, 0))
    report = await runner.run_due("flood_season")
    assert len(report.missed) == 1
    assert [r.state for r in await occurrences(service, "flood_season")] == ["missed"]
