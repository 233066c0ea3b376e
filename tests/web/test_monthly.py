"""月度统计: a month's warnings, messages, rates and people reached by audience, campaign reach per township."""

from __future__ import annotations

import csv
import io

from tests.web.conftest import Served, login


async def test_the_month_of_a_sent_warning(served: Served) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/") as r:
            assert 'href="/reports/monthly"' in await r.text()
        async with http.get(f"{served.base}/reports/monthly?month=2026-07") as r:
            page = await r.text()
        for expected in ("2026年7月", "橙色 <b>1</b>", "预警科普 <b>1</b>", "居民", "覆盖人数"):
            assert expected in page, expected
        async with http.get(f"{served.base}/reports/monthly?month=2026-07&format=csv") as r:
            rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        assert rows[0] == ["月份", "类别", "项目", "指标", "数值"]
        people = next(row for row in rows if row[2] == "居民" and row[3] == "覆盖人数")
        assert int(people[4]) >= 1
        async with http.get(f"{served.base}/reports/monthly?month=2026-06") as r:
            assert "本月没有收到预警" in await r.text()
        async with http.get(f"{served.base}/reports/monthly?month=July") as r:
            assert r.status == 400
    finally:
        await http.close()
    source = await login(served.base, "feed.source")
    try:
        async with source.get(f"{served.base}/reports/monthly", allow_redirects=False) as r:
            assert r.status == 403
    finally:
        await source.close()
