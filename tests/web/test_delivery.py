"""Delivery figures per alert chain and township: in the console (投递情况) and as JSON in the API."""

from __future__ import annotations

import aiohttp
from sqlalchemy import update

from alerts.store import budgets
from alerts.store.tables import deliveries
from tests.web.conftest import Served, login


async def _warning_sent_with_one_failure(served: Served) -> str:
    """An orange warning approved and sent through the log channel; one delivery then failed (bad number),
    one had been in doubt after a crash and was found at the provider."""
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    async with world.service.db.write() as conn:
        ids = [r.id for r in await conn.execute(deliveries.select().where(deliveries.c.channel == "sms")
                                                .order_by(deliveries.c.id))]
        await conn.execute(update(deliveries).where(deliveries.c.id == ids[0]).values(
            state="failed", error_code="21211", error="Twilio 21211: invalid phone number"))
        await conn.execute(update(deliveries).where(deliveries.c.id == ids[1]).values(in_doubt=True,
                                                                                      reconciled="found"))
        await budgets.pause(conn, "sms", now=world.clock.now(), after=120, base=1, cap=300, code="20003",
                            reason="Twilio 20003: authentication failed")
    from alerts.store.tables import drafts

    async with world.service.db.read() as conn:
        return str((await conn.execute(drafts.select().where(drafts.c.id == draft_id))).one().group_key)


async def test_the_api_gives_figures_per_chain_and_township(served: Served) -> None:
    chain = await _warning_sent_with_one_failure(served)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served.base}/api/v1/delivery", headers=served.bearer("liu.observer")) as r:
            assert r.status == 200
            body = await r.json()
        async with http.get(f"{served.base}/api/v1/delivery?limit=0", headers=served.bearer("liu.observer")) as r:
            assert r.status == 400 and "limit" in (await r.json())["error"]
        async with http.get(f"{served.base}/api/v1/delivery") as r:
            assert r.status == 401
    [c] = body["chains"]
    t = c["totals"]
    assert c["chain"] == chain and c["level"] == "orange"
    assert t["intended"] == sum(row["intended"] for row in c["townships"]) > 1
    assert t["failed"] == 1 and t["failed_by_reason"] == {"21211": 1}
    assert (t["in_doubt"], t["reconciled"], t["duplicates_avoided"]) == (1, 1, 1)
    assert t["sent"] + t["delivered"] + t["failed"] == t["intended"]
    assert all(row["name"] and row["area"] for row in c["townships"])
    assert "sms" in body["outbox"]["paused"], "a paused channel is part of the answer"


async def test_the_console_page_shows_what_is_stuck_and_the_township_table(served: Served) -> None:
    await _warning_sent_with_one_failure(served)
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/delivery") as r:
            assert r.status == 200
            page = await r.text()
    finally:
        await http.close()
    assert "发送受阻" in page and "authentication failed" in page
    assert "号码无效 1" in page and "避免重发" in page and '<table class="townships">' in page
    assert "投递情况" in page and 'name="viewport"' in page
