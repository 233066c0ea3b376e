"""The console over HTTP: login and sessions, CSRF, permissions on every route, what each page shows."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.web.conftest import Served, csrf_of, login
from tests.workflow.support import PASSWORDS


async def test_login_sets_a_strict_httponly_session_and_logout_ends_it(served: Served) -> None:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with http.get(f"{served.base}/login") as r:
            token = csrf_of(await r.text())
        async with http.post(f"{served.base}/login", allow_redirects=False,
                             data={"csrf": token, "name": "wang.approver", "password": PASSWORDS["wang.approver"]}) as r:
            assert r.status == 303
            cookie = r.cookies["alerts_session"]
            assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
            assert not cookie["secure"]  # plain http on 127.0.0.1; request.secure turns it on under HTTPS
        async with http.get(f"{served.base}/") as r:
            page = await r.text()
            assert r.status == 200 and "待审队列" in page
        async with http.post(f"{served.base}/logout", data={"csrf": csrf_of(page)}) as r:
            assert str(r.url).endswith("/login")
        async with http.get(f"{served.base}/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
    finally:
        await http.close()


async def test_a_session_ends_after_the_idle_timeout(served: Served) -> None:
    http = await login(served.base, "wang.approver")
    try:
        served.world.clock.advance(minutes=29)
        async with http.get(f"{served.base}/", allow_redirects=False) as r:
            assert r.status == 200
        served.world.clock.advance(minutes=31)
        async with http.get(f"{served.base}/", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login"
    finally:
        await http.close()


async def test_forms_without_the_csrf_token_are_refused(served: Served) -> None:
    draft_id = await served.world.ingest()
    http = await login(served.base, "wang.approver")
    try:
        for data in ({}, {"csrf": "forged"}):
            async with http.post(f"{served.base}/drafts/{draft_id}/approve", data=data) as r:
                assert r.status == 403 and "CSRF" in await r.text()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as fresh, \
                fresh.post(f"{served.base}/login", data={"name": "wang.approver",
                                                        "password": PASSWORDS["wang.approver"]}) as r:
            assert r.status == 403  # the login form carries its own token
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            assert "待审批" in await r.text()
    finally:
        await http.close()


GET_ROUTES = {"/": "view", "/queue/items": "view", "/drafts/{d}": "view", "/sent": "view", "/feeds": "view",
              "/templates": "view", "/alerts/{a}/raw": "view", "/audit": "view_audit", "/admin/users": "manage_users",
              "/reports/drafts/{d}": "view", "/reports/drafts/{d}?format=csv": "view", "/lookup": "lookup_phone"}
POST_ROUTES = {"/drafts/{d}/approve": "approve", "/drafts/{d}/reject": "reject", "/drafts/{d}/edit": "edit",
               "/drafts/{d}/review": "review_content", "/drafts/{d}/withdraw": "approve", "/drafts/{d}/correct": "compose",
               "/admin/users": "manage_users", "/admin/users/li.editor/disable": "manage_users",
               "/admin/users/li.editor/enable": "manage_users", "/admin/users/li.editor/roles": "manage_users",
               "/admin/users/li.editor/reset": "manage_users", "/admin/users/li.editor/tokens/1/revoke": "manage_users",
               "/admin/requests/1/confirm": "manage_users", "/admin/requests/1/refuse": "manage_users",
               "/lookup": "lookup_phone"}


@pytest.mark.parametrize("who", ["liu.observer", "li.editor", "chen.expert", "admin", "qx.campaigner", "feed.source"])
async def test_every_route_checks_the_permission_on_the_server(served: Served, who: str) -> None:
    draft_id = await served.world.ingest()
    async with served.world.service.db.read() as conn:
        from alerts.store import drafts as draft_store

        alert_id = (await draft_store.get(conn, draft_id)).row.alert_id  # type: ignore[union-attr]
    policy = served.world.service.policy
    user = served.world.users[who]
    http = await login(served.base, who) if who != "feed.source" else None
    if http is None:  # a machine account may still log in; it can see nothing
        http = await login(served.base, "feed.source")
    try:
        async with http.get(f"{served.base}/login") as r:
            pass
        for route, perm in GET_ROUTES.items():
            async with http.get(served.base + route.format(d=draft_id, a=alert_id), allow_redirects=False) as r:
                assert (r.status == 200) == policy.can(user, perm), (who, route, r.status)
                if r.status == 403:
                    assert "您的角色不能" in await r.text()
        # POSTs with a valid CSRF token: refused before anything happens for roles without the permission.
        async with http.get(f"{served.base}/login") as r:
            pass
        csrf = await _session_csrf(http, served)
        for route, perm in POST_ROUTES.items():
            if policy.can(user, perm):
                continue
            async with http.post(served.base + route.format(d=draft_id), allow_redirects=False,
                                 data={"csrf": csrf, "reason": "x", "message_id": "1", "text": "新文字",
                                       "name": "x.new", "role": "admin"}) as r:
                assert r.status == 403, (who, route, r.status)
    finally:
        await http.close()
    async with served.world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None and record.state == "pending"


async def _session_csrf(http: aiohttp.ClientSession, served: Served) -> str:
    """The session's CSRF token, from the logout form every logged-in page carries."""
    async with http.get(f"{served.base}/login") as r:
        await r.text()
    async with http.get(f"{served.base}/nowhere") as r:
        pass
    # /login and 404s carry no session form; the 403 page does (it extends base.html).
    async with http.get(f"{served.base}/admin/users") as r:
        text = await r.text()
    if 'name="csrf"' not in text:
        async with http.get(f"{served.base}/") as r:
            text = await r.text()
    return csrf_of(text)


async def test_an_observer_sees_the_draft_but_no_approve_button_and_cannot_approve(served: Served) -> None:
    draft_id = await served.world.ingest()
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        assert "批准发送" not in page and "您的角色只能查看" in page
        async with http.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf_of(page)}) as r:
            assert r.status == 403
    finally:
        await http.close()


async def test_the_draft_page_shows_what_an_approver_needs(served: Served) -> None:
    draft_id = await served.world.ingest(level="orange")
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        for expected in ("高平市气象台发布暴雨橙色预警", "米山镇", "三甲镇", "神农镇", "查看原始报文",  # the alert
                         "【高平应急科普】", "rainstorm.orange.residents.sms", "审核：",  # messages
                         "预计接收", "居民", "快速通道", "双人原则", "可批准的人", "zhao.approver",  # estimate, policy
                         "批准发送", "驳回理由", "处理记录", "生成消息草稿"):
            assert expected in page, expected
        assert re.search(r"分 [12] 条短信（UCS-2，含签名）|分 [12] 条短信", page)
        async with http.get(f"{served.base}/alerts/{draft_id}/raw") as r:
            assert r.content_type == "text/plain" and "<identifier>" in await r.text()
    finally:
        await http.close()


async def test_approving_in_the_console_needs_a_second_person_and_reports_the_send(served: Served) -> None:
    draft_id = await served.world.ingest(level="yellow")
    first = await login(served.base, "wang.approver")
    second = await login(served.base, "zhao.approver")
    try:
        async with first.get(f"{served.base}/drafts/{draft_id}") as r:
            csrf = csrf_of(await r.text())
        async with first.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf}) as r:
            assert r.status == 200 and "还需要另一位审批人" in await r.text()
        async with first.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf}) as r:
            # post/redirect/get: the refusal is shown on the draft page, in Chinese
            assert r.history[0].status == 303 and str(r.url).endswith(f"/drafts/{draft_id}")
            assert r.status == 200 and "您已经批准过这条消息" in await r.text()
        async with second.get(f"{served.base}/drafts/{draft_id}") as r:
            csrf2 = csrf_of(await r.text())
        async with second.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf2}) as r:
            assert "已批准，正在发送" in await r.text()
        await served.world.service.worker.drain()
        async with second.get(f"{served.base}/sent") as r:
            page = await r.text()
        assert f"#{draft_id}" in page and re.search(r'class="state st-sent">已发送<', page)
        assert re.search(r'class="count st-(sent|delivered)">(已发送|已送达) <b>[1-9]', page)
    finally:
        await first.close()
        await second.close()


async def test_reject_and_edit_from_the_console(served: Served) -> None:
    draft_id = await served.world.ingest()
    editor = await login(served.base, "li.editor")
    approver = await login(served.base, "wang.approver")
    try:
        async with editor.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        message_id = re.search(r'name="message_id" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
        async with editor.post(f"{served.base}/drafts/{draft_id}/edit",
                               data={"csrf": csrf_of(page), "message_id": message_id,
                                     "text": "暴雨橙色预警：远离河道和低洼地。"}) as r:
            text = await r.text()
            assert r.status == 200 and "专家审核" in text and "已修改" in text
        async with approver.get(f"{served.base}/drafts/{draft_id}") as r:
            page = await r.text()
        async with approver.post(f"{served.base}/drafts/{draft_id}/reject", data={"csrf": csrf_of(page), "reason": ""}) as r:
            assert r.history[0].status == 303 and "驳回须填写理由" in await r.text()
        async with approver.post(f"{served.base}/drafts/{draft_id}/reject",
                                 data={"csrf": csrf_of(page), "reason": "内容需重写"}) as r:
            assert "已驳回" in await r.text()
    finally:
        await editor.close()
        await approver.close()


async def test_exercise_drafts_are_marked_everywhere(served: Served) -> None:
    draft_id = await served.world.ingest(status="Exercise")
    http = await login(served.base, "wang.approver")
    try:
        for path in ("/", "/queue/items", f"/drafts/{draft_id}"):
            async with http.get(served.base + path) as r:
                assert "演练" in await r.text(), path
        async with http.get(f"{served.base}/drafts/{draft_id}") as r:
            csrf = csrf_of(await r.text())
        async with http.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf}) as r:
            assert "批准" in await r.text()
        async with http.get(f"{served.base}/sent") as r:
            assert "演练" in await r.text()
    finally:
        await http.close()


async def test_queue_puts_pending_first_by_level_and_shows_time_waiting(served: Served) -> None:
    yellow = await served.world.ingest(level="yellow", identifier="14058141600000_20260712053001")
    served.world.clock.advance(minutes=7)
    red = await served.world.ingest(level="blue", identifier="14058141600000_20260712053002")
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/queue/items") as r:
            page = await r.text()
        assert page.index(f"#{yellow}") < page.index(f"#{red}")
        assert "已等待 7 分钟" in page and "已等待 0 分钟" in page
    finally:
        await http.close()


async def test_admin_pages_mask_phones_and_add_users_with_a_one_time_link(served: Served) -> None:
    http = await login(served.base, "admin")
    try:
        async with http.get(f"{served.base}/admin/users") as r:
            page = await r.text()
        assert "+86 139****9000" in page and "13900139000" not in page
        async with http.post(f"{served.base}/admin/users", data={"csrf": csrf_of(page), "name": "he.new",
                                                                  "role": "observer", "phone": "13700137000"}) as r:
            page = await r.text()
        assert "已添加用户 he.new" in page and "+86 137****7000" in page and "13700137000" not in page
        assert "/enrol/" in page and "密码：" not in page
        async with http.post(f"{served.base}/admin/users/he.new/disable", data={"csrf": csrf_of(page)}) as r:
            assert "已停用用户 he.new" in await r.text()
        async with http.get(f"{served.base}/audit") as r:
            page = await r.text()
        assert "校验通过" in page and "添加用户" in page and "13700137000" not in page
    finally:
        await http.close()


async def test_feeds_and_templates_pages(served: Served) -> None:
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/feeds") as r:
            assert r.status == 200 and "数据源状态" in await r.text()
        async with http.get(f"{served.base}/templates?status=reviewed") as r:
            page = await r.text()
        assert "已审核" in page and "rainstorm.orange.residents.sms" in page
    finally:
        await http.close()
