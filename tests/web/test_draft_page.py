"""The draft page as the person on duty meets it: what happened, the texts, whom they reach, then the
decision; a red warning to the whole city is approved only with the count confirmed; every decision
answers with a redirect, so refreshing never sends it again."""

from __future__ import annotations

import aiohttp

from alerts.store import drafts as draft_store
from tests.web.conftest import Served, csrf_of, login
from tests.workflow.support import sample_alert

CITYWIDE = "<geocode>140581000000</geocode>"


async def ingest_citywide_red(served: Served) -> int:
    text = sample_alert(level="red").decode()
    for code in ("140581101000", "140581102000", "140581103000"):
        text = text.replace(f"<geocode>{code}</geocode>", "", 1)
    text = text.replace("</areaDesc>", "</areaDesc>" + CITYWIDE, 1).replace("米山镇、三甲镇、神农镇", "高平市全境")
    intake = await served.world.service.receive(text.encode(), source="test")
    assert intake.drafts.created, intake.drafts.problems
    return intake.drafts.created[0]


async def test_the_page_reads_what_happened_then_texts_then_reach_then_decision(served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
    finally:
        await http.close()
    at = 0
    for marker in ("发生了什么", "<dt>灾种</dt><dd>暴雨", "高平市气象台", "<li>米山镇</li>",  # what, where (a list)
                   "将发送的内容", "【高平应急科普】",  # the exact texts
                   'class="reaches">发给 <b>',  # how many each reaches, and where
                   f'action="/drafts/{draft_id}/approve"', f'action="/drafts/{draft_id}/reject"'):
        found = page.find(marker, at)
        assert found > at, f"{marker!r} is not after the previous part of the page"
        at = found
    assert "7月12日 05:30" in page  # dates as people here write them, not 2026-07-12


async def test_a_citywide_red_warning_needs_the_count_confirmed(served: Served) -> None:
    draft_id = await ingest_citywide_red(served)
    async with served.world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None and record.row.level == "red"
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        assert "将向高平市全境约" in page and 'name="confirm_citywide" value="yes" required' in page
        csrf = csrf_of(page)
        # Without the box (a form sent by hand, or a browser that ignores `required`): refused, nothing sent.
        async with http.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf}) as r:
            text = await r.text()
            assert r.history[0].status == 303 and "请先勾选「将向高平市全境约" in text
        async with served.world.service.db.read() as conn:
            assert (await draft_store.get(conn, draft_id)).row.state == "pending"  # type: ignore[union-attr]
        async with http.post(f"{served.base}/drafts/{draft_id}/approve",
                             data={"csrf": csrf, "confirm_citywide": "yes"}) as r:
            assert "已批准，正在发送" in await r.text()
    finally:
        await http.close()


async def test_refreshing_after_approve_neither_resubmits_nor_shows_an_error(served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            csrf = csrf_of(await r.text())
        async with http.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf},
                             allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == f"/drafts/{draft_id}"
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            first = await r.text()
        assert "已批准，正在发送" in first
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:  # the refresh
            again = await r.text()
        assert r.status == 200 and "已批准，正在发送" not in again and "未执行" not in again
        async with served.world.service.db.read() as conn:
            record = await draft_store.get(conn, draft_id)
        assert record is not None and sum(1 for a in record.approvals if a.decision == "approve") == 1
    finally:
        await http.close()


async def test_a_refused_decision_is_said_in_chinese(served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    approver = await login(served.base, "wang.approver")
    other = await login(served.base, "zhao.approver")
    try:
        async with approver.get(f"{served.base}/drafts/{draft_id}") as r:
            csrf = csrf_of(await r.text())
        async with other.get(f"{served.base}/drafts/{draft_id}") as r:
            csrf2 = csrf_of(await r.text())
        async with approver.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf}) as r:
            assert r.status == 200
        async with other.post(f"{served.base}/drafts/{draft_id}/reject", data={"csrf": csrf2, "reason": "晚了"}) as r:
            text = await r.text()
        assert "这条消息现在是「" in text and "不能再驳回" in text and "cannot" not in text
    finally:
        await approver.close()
        await other.close()


async def test_the_flash_cookie_cannot_inject_markup(served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    http = await login(served.base, "wang.approver")
    try:
        import json

        value = json.dumps(["<script>alert(1)</script>", "error"]).encode().hex()
        http.cookie_jar.update_cookies({"alerts_flash": value}, response_url=aiohttp.client.URL(served.base))
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    finally:
        await http.close()
