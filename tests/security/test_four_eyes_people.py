"""Four eyes counts people: one person holding two roles is one pair of eyes.

Before: a user who was both campaigner (push_alerts) and approver pushed an orange warning and
approved its draft alone through the expedited path.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from alerts.store import users as user_store
from tests.web.conftest import Served
from tests.workflow.support import sample_alert


async def test_whoever_pushed_an_alert_cannot_also_approve_its_draft(served: Served, config_dir: Path) -> None:
    world = served.world
    async with world.service.db.write() as conn:
        both = await user_store.add(conn, "qx.both", ["campaigner", "approver"], "both-password-1",
                                    at=world.clock.now())
        token = await user_store.create_token(conn, both, "push", at=world.clock.now())
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{served.base}/api/v1/alerts", data=sample_alert(level="orange"),
                             headers={**auth, "Content-Type": "application/xml"}) as r:
            assert r.status == 202, await r.text()
            [draft_id] = (await r.json())["drafts"][:1]
        async with http.post(f"{served.base}/api/v1/drafts/{draft_id}/approve", headers=auth) as r:
            assert r.status == 403 and "pushed the alert" in (await r.json())["error"]
        async with http.post(f"{served.base}/api/v1/drafts/{draft_id}/approve",
                             headers=served.bearer("wang.approver")) as r:
            assert r.status == 200 and (await r.json())["state"] == "dispatching"
