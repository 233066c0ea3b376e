"""Operator problems reach people: on top of the console queue and in the API, and can be marked handled."""

from __future__ import annotations

import aiohttp

from alerts.store import problems as problem_store
from tests.web.conftest import Served, csrf_of, login


async def _report(served: Served) -> None:
    svc = served.world.service
    async with svc.db.write() as conn:
        await problem_store.report(conn, key="alert:9:no_recipients", kind="no_recipients", severity="critical",
                                   what="暴雨橙色预警没有送达任何人", why="预警区域代码 140581299 未配置",
                                   todo="在 config/areas.yaml 中补充该乡镇", subject="alert:9", at=svc.clock.now())


async def test_the_api_lists_open_problems_and_an_approver_marks_one_handled(served: Served) -> None:
    await _report(served)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served.base}/api/v1/problems", headers=served.bearer("liu.observer")) as r:
            assert r.status == 200
            [p] = (await r.json())["problems"]
        assert (p["kind"], p["severity"], p["todo"]) == ("no_recipients", "critical", "在 config/areas.yaml 中补充该乡镇")
        async with http.post(f"{served.base}/api/v1/problems/{p['id']}/resolve",
                             headers=served.bearer("liu.observer")) as r:
            assert r.status == 403, "an observer sees problems but does not close them"
        async with http.post(f"{served.base}/api/v1/problems/{p['id']}/resolve",
                             headers=served.bearer("wang.approver")) as r:
            assert r.status == 200 and (await r.json())["resolved_by"] == "wang.approver"
        async with http.post(f"{served.base}/api/v1/problems/{p['id']}/resolve",
                             headers=served.bearer("wang.approver")) as r:
            assert r.status == 409
        async with http.post(f"{served.base}/api/v1/problems/99999999999999999999999/resolve",
                             headers=served.bearer("wang.approver")) as r:
            assert r.status == 404
        async with http.get(f"{served.base}/api/v1/problems", headers=served.bearer("liu.observer")) as r:
            assert (await r.json())["problems"] == []


async def test_the_queue_shows_the_problem_with_what_to_do_and_a_button_for_the_approver(served: Served) -> None:
    await _report(served)
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/") as r:
            page = await r.text()
        assert "暴雨橙色预警没有送达任何人" in page and "在 config/areas.yaml 中补充该乡镇" in page
        assert "标记为已处理" in page
        async with http.post(f"{served.base}/problems/1/resolve", data={"csrf": csrf_of(page)},
                             allow_redirects=False) as r:
            assert r.status == 303
        async with http.get(f"{served.base}/") as r:
            assert "暴雨橙色预警没有送达任何人" not in await r.text()
    finally:
        await http.close()
