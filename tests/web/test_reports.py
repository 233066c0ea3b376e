"""Delivery reports per message and per event: by township and village, with a bar chart, as CSV, JSON
and an A4 print page; every route checks `view` on the server."""

from __future__ import annotations

import csv
import io

from sqlalchemy import update

from alerts.store.tables import deliveries, residents
from tests.web.conftest import Served, login


async def sent_orange(served: Served) -> int:
    world = served.world
    draft_id = await world.ingest(level="orange")
    async with world.service.db.write() as conn:  # a village for some residents, one opted out before
        await conn.execute(update(residents).where(residents.c.area == "140581101").values(village="东周村"))
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    async with world.service.db.write() as conn:  # one number failed at the carrier
        first = (await conn.execute(deliveries.select().order_by(deliveries.c.id).limit(1))).first()
        await conn.execute(update(deliveries).where(deliveries.c.id == first.id)  # type: ignore[union-attr]
                           .values(state="failed", error_code="30003"))
    return draft_id


async def test_the_report_of_a_message_by_township_and_village_with_a_chart(served: Served) -> None:
    draft_id = await sent_orange(served)
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            assert f"/reports/drafts/{draft_id}" in await r.text()
        async with http.get(f"{served.base}/reports/drafts/{draft_id}") as r:
            page = await r.text()
        assert r.status == 200
        for expected in ("投递报告", "米山镇", "东周村", "应发", "已送达", "手机无法接通 1", "<svg", 'class="bar ',
                         "?format=csv", "?format=json", "?format=print"):
            assert expected in page, expected
        async with http.get(f"{served.base}/reports/drafts/{draft_id}?format=csv") as r:
            raw = await r.read()
            assert r.content_type == "text/csv" and "attachment" in r.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0][:5] == ["乡镇", "村（社区）", "应发", "已发出", "已送达"]
        assert any(row[0] == "米山镇" and row[1] == "东周村" for row in rows)
        total = rows[-1]
        assert total[0] == "合计" and int(total[2]) >= 1 and int(total[5]) == 1
        async with http.get(f"{served.base}/reports/drafts/{draft_id}?format=json") as r:
            data = await r.json()
        assert data["total"]["failed_by_reason"] == {"30003": 1}
        assert data["total"]["intended"] == sum(t["intended"] for t in data["townships"])
        assert {"township", "village", "delivered", "opted_out", "acknowledged"} <= set(data["villages"][0])
        async with http.get(f"{served.base}/reports/drafts/{draft_id}?format=print") as r:
            printed = await r.text()
        assert "report_print.css" in printed and "发送情况报告" in printed and "<nav" not in printed
        async with http.get(f"{served.base}/static/report_print.css") as r:
            assert "size: A4" in await r.text()
        async with http.get(f"{served.base}/reports/drafts/{draft_id}?format=xls") as r:
            assert r.status == 400 and "不支持的格式" in await r.text()
    finally:
        await http.close()


async def test_the_report_of_an_event_covers_its_chains(served: Served) -> None:
    draft_id = await sent_orange(served)  # orange opens an event (events.yaml)
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/events") as r:
            assert "/events/1" in await r.text()
        async with http.get(f"{served.base}/events/1") as r:
            assert "/reports/events/1" in await r.text()
        async with http.get(f"{served.base}/reports/events/1?format=json") as r:
            data = await r.json()
        assert draft_id in data["drafts"] and data["subject"]["kind"] == "event"
        assert data["total"]["intended"] >= 1
        async with http.get(f"{served.base}/reports/events/999") as r:
            assert r.status == 404
    finally:
        await http.close()


async def test_reports_need_the_view_permission(served: Served) -> None:
    draft_id = await sent_orange(served)
    source = await login(served.base, "feed.source")  # a machine account: no view
    try:
        for fmt in ("html", "csv", "json", "print"):
            for path in (f"/reports/drafts/{draft_id}", "/reports/events/1"):
                async with source.get(f"{served.base}{path}?format={fmt}", allow_redirects=False) as r:
                    assert r.status == 403, (path, fmt)
    finally:
        await source.close()
    import aiohttp

    async with aiohttp.ClientSession() as anonymous, \
            anonymous.get(f"{served.base}/reports/drafts/{draft_id}?format=csv", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/login"
