"""演练评估: the times of each step of an exercise against its target, as a page and CSV."""

from __future__ import annotations

import csv
import io

from tests.web.conftest import Served, login


async def test_an_exercise_is_scored_step_by_step(served: Served) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange", status="Exercise")
    world.clock.advance(minutes=3)
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        assert f"/reports/drafts/{draft_id}/drill" in page and "演练评估" in page
        async with http.get(f"{served.base}/reports/drafts/{draft_id}/drill") as r:
            page = await r.text()
        for expected in ("收到预警", "生成草稿", "审批通过", "3.0 分钟", "≤ 5 分钟", "达标", "95% 送达公众"):
            assert expected in page, expected
        async with http.get(f"{served.base}/reports/drafts/{draft_id}/drill?format=csv") as r:
            rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        assert rows[0] == ["环节", "时间", "起算", "用时（分钟）", "目标（分钟）", "是否达标"]
        approved = next(row for row in rows if row[0] == "审批通过")
        assert approved[3] == "3.0" and approved[5] == "达标"
    finally:
        await http.close()
    source = await login(served.base, "feed.source")
    try:
        async with source.get(f"{served.base}/reports/drafts/{draft_id}/drill", allow_redirects=False) as r:
            assert r.status == 403
    finally:
        await source.close()
