"""Ids beyond 64 bits and bodies that cannot be read: 404 and 400, never 500.

Before: /api/v1/drafts/18446744073709551616 reached the database and answered 500, and a body
sent with Content-Encoding: gzip that was not gzip answered 500.
"""

from __future__ import annotations

import re

import aiohttp
import pytest

from alerts.store import users as user_store
from alerts.web.app import route_modules
from tests.web.conftest import Served, csrf_of, login

ID = re.compile(r"\{(id|[a-z_]+_id)\}")


def routes_with_ids() -> list[tuple[str, str]]:
    found = []
    for module in route_modules():
        for route in module.routes:  # type: ignore[attr-defined]
            if ID.search(route.path) and route.method in ("GET", "POST"):
                found.append((route.method, route.path))
    assert len(found) >= 15, found
    return sorted(set(found))


@pytest.mark.parametrize("number", [2**64, 2**63, -(2**70), 0])
async def test_every_route_with_an_id_answers_404_for_ids_that_cannot_exist(served: Served, number: int) -> None:
    world = served.world
    async with world.service.db.write() as conn:
        everyone = await user_store.add(conn, "all.roles", list(world.service.settings.workflow.roles),
                                        "all-roles-password-1", at=world.clock.now())
        token = await user_store.create_token(conn, everyone, "t", at=world.clock.now())
    http = await login(served.base, "all.roles", "all-roles-password-1")
    try:
        async with http.get(f"{served.base}/account") as r:
            csrf = csrf_of(await r.text())
        for method, template in routes_with_ids():
            path = ID.sub(str(number), template).replace("{name}", "wang.approver").replace(r"\.", ".")
            async with http.request(method, served.base + path, headers={"Authorization": f"Bearer {token}"},
                                    data={"csrf": csrf, "reason": "x"} if method == "POST" else None,
                                    allow_redirects=False) as r:
                assert r.status in (400, 404), (method, path, r.status, await r.text())
    finally:
        await http.close()


async def test_a_body_that_is_not_gzip_answers_400(served: Served) -> None:
    draft_id = await served.world.ingest()
    for path, who in (("/api/v1/alerts", "feed.source"), (f"/api/v1/drafts/{draft_id}/reject", "wang.approver")):
        # A connection whose body could not be read is closed by the server: one connection each.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            async with http.post(served.base + path, data=b"this is not gzip at all",
                                 headers={**served.bearer(who), "Content-Encoding": "gzip",
                                          "Content-Type": "application/json"}) as r:
                assert r.status == 400, (path, r.status, await r.text())
                assert "error" in await r.json()
