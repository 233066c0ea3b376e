"""An administrator alone cannot cause any message to reach residents.

Before: an admin minted API tokens for approvers (POST /admin/users/{name}/token) and saw every new
approver's password, so one admin could release a warning alone. Here the admin tries every path
open to them: tokens for others, a sock-puppet approver, resetting a real approver and taking
over the link, granting themselves the role, a second admin of their own making.
"""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import func, select

from alerts.store import users as user_store
from alerts.store.tables import deliveries
from tests.security.conftest import browser, try_login
from tests.web.conftest import Served, csrf_of, login
from tests.workflow.support import password_hash

LINK = re.compile(r"https?://[^/\s<]+(/enrol/[A-Za-z0-9_-]+)")
ADMIN_OWN = "admin-owned-password-1"


async def page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        return await r.text()


async def admin_post(http: aiohttp.ClientSession, served: Served, path: str, **data: str | list[str]) -> tuple[int, str]:
    csrf = csrf_of(await page(http, f"{served.base}/admin/users"))
    form = aiohttp.FormData([("csrf", csrf)] + [(k, v) for k, vs in data.items()
                                                 for v in ([vs] if isinstance(vs, str) else vs)])
    async with http.post(f"{served.base}{path}", data=form) as r:
        return r.status, await r.text()


async def enrol_as(served: Served, path: str, password: str) -> None:
    """Whoever holds the link sets the password: here, the admin."""
    async with browser() as http:
        text = await page(http, f"{served.base}{path}")
        async with http.post(f"{served.base}{path}", data={"csrf": csrf_of(text), "password": password,
                                                           "password2": password}) as r:
            assert r.status == 200 and "请登录" in await r.text()


async def try_approve(served: Served, name: str, password: str, draft_id: int) -> int:
    """Sign in as `name`, and try to approve in the console and with a token of their own via the API."""
    http = await login(served.base, name, password)
    try:
        text = await page(http, f"{served.base}/account")
        async with http.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf_of(text)}) as r:
            console = r.status
        async with http.post(f"{served.base}/account/tokens", data={"csrf": csrf_of(text), "label": "x"}) as r:
            token = re.search(r"<code>(alt_[^<]+)</code>", await r.text())
        assert token, "anyone may create tokens for themselves"
        async with http.post(f"{served.base}/api/v1/drafts/{draft_id}/approve",
                             headers={"Authorization": f"Bearer {token.group(1)}"}) as r:
            api = r.status
    finally:
        await http.close()
    assert console == api
    return console


async def delivered(served: Served) -> int:
    async with served.world.service.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(deliveries))).scalar_one())


async def test_an_admin_alone_cannot_make_any_message_reach_residents(served: Served) -> None:
    world = served.world
    draft_id = await world.ingest(level="orange")  # expedited: one approver would be enough
    admin = await login(served.base, "admin")
    try:
        # 1. No token for anyone else, no approval of their own.
        status, _ = await admin_post(admin, served, "/admin/users/wang.approver/token", label="x")
        assert status == 404
        async with admin.post(f"{served.base}/api/v1/drafts/{draft_id}/approve", headers=served.bearer("admin")) as r:
            assert r.status == 403
        async with admin.post(f"{served.base}/api/v1/alerts", headers=served.bearer("admin"), data=b"<alert/>") as r:
            assert r.status == 403

        # 2. A sock puppet: the approver role waits for a second admin; the link gives no approval.
        status, text = await admin_post(admin, served, "/admin/users", name="sock.puppet", role="approver")
        assert status == 200 and "另一位管理员确认" in text and "密码：" not in text
        await enrol_as(served, LINK.search(text).group(1), "puppet-password-1")  # type: ignore[union-attr]
        assert await try_approve(served, "sock.puppet", "puppet-password-1", draft_id) == 403
        request_id = re.search(r"/admin/requests/(\d+)/refuse", await page(admin, f"{served.base}/admin/users"))
        assert request_id
        status, text = await admin_post(admin, served, f"/admin/requests/{request_id.group(1)}/confirm")
        assert status == 409 and "双人规则" in text

        # 3. Taking over a real approver by resetting them: tokens die, the role waits for a second admin.
        status, text = await admin_post(admin, served, "/admin/users/wang.approver/reset")
        assert status == 200 and "另一位管理员确认" in text
        await enrol_as(served, LINK.search(text).group(1), "taken-over-password-1")  # type: ignore[union-attr]
        async with admin.get(f"{served.base}/api/v1/drafts/{draft_id}", headers=served.bearer("wang.approver")) as r:
            assert r.status == 401, "the reset revoked wang's own tokens"
        assert await try_approve(served, "wang.approver", "taken-over-password-1", draft_id) == 403

        # 4. Granting themselves the role, or making a second admin to confirm with.
        status, text = await admin_post(admin, served, "/admin/users/admin/roles", role=["admin", "approver"])
        assert "另一位管理员确认" in text
        status, text = await admin_post(admin, served, "/admin/users", name="admin.two", role="admin")
        await enrol_as(served, LINK.search(text).group(1), "second-admin-password-1")  # type: ignore[union-attr]
        two = await login(served.base, "admin.two", "second-admin-password-1")
        async with two.get(f"{served.base}/admin/users") as r:
            assert r.status == 403, "the second admin's own role waits for confirmation too"
        await two.close()
    finally:
        await admin.close()
    async with world.service.db.read() as conn:
        admin_user = await user_store.by_name(conn, "admin")
    assert admin_user is not None and admin_user.roles == ("admin",)
    assert await try_approve(served, "admin", "admin-password-1", draft_id) == 403

    assert await delivered(served) == 0, "nothing reached anyone"
    async with world.service.db.read() as conn:
        from alerts.store import drafts as draft_store

        record = await draft_store.get(conn, draft_id)
    assert record is not None and record.state == "pending"


async def test_a_second_admin_confirms_a_grant_and_then_the_new_approver_can_approve(served: Served) -> None:
    world = served.world
    async with world.service.db.write() as conn:
        await user_store.add(conn, "admin.b", ["admin"], ADMIN_OWN, at=world.clock.now(),
                             password_hash=password_hash(ADMIN_OWN))
    draft_id = await world.ingest(level="orange")
    admin = await login(served.base, "admin")
    status, text = await admin_post(admin, served, "/admin/users", name="he.approver", role=["approver", "observer"])
    await admin.close()
    await enrol_as(served, LINK.search(text).group(1), "he-approver-password-1")  # type: ignore[union-attr]

    second = await login(served.base, "admin.b", ADMIN_OWN)
    try:
        listing = await page(second, f"{served.base}/admin/users")
        assert "待确认的授权" in listing and "he.approver" in listing
        request_id = re.search(r"/admin/requests/(\d+)/confirm", listing)
        assert request_id
        status, text = await admin_post(second, served, f"/admin/requests/{request_id.group(1)}/confirm")
        assert status == 200 and "已确认" in text
    finally:
        await second.close()
    async with browser() as http:
        assert (await try_login(http, served.base, "he.approver", "he-approver-password-1")).status == 303
        text = await page(http, f"{served.base}/drafts/{draft_id}")
        async with http.post(f"{served.base}/drafts/{draft_id}/approve", data={"csrf": csrf_of(text)}) as r:
            assert r.status == 200
    assert await delivered(served) > 0
    async with world.service.db.read() as conn:
        from alerts.workflow import audit

        actions = [e.action for e in await audit.recent(conn, limit=50, target="user:he.approver")]
    assert {"user.added", "user.roles_requested", "user.enrolled", "user.roles_confirmed"} <= set(actions)
