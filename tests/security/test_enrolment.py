"""No password is shown to anyone but its owner: one-time enrolment links, used once, within their time.

Before: adding a user showed the admin the new person's password.
"""

from __future__ import annotations

import re

from tests.security.conftest import browser, try_login
from tests.web.conftest import Served, csrf_of, login

LINK = re.compile(r"https?://[^/\s<]+(/enrol/[A-Za-z0-9_-]+)")


async def new_link(served: Served, name: str) -> str:
    admin = await login(served.base, "admin")
    try:
        async with admin.get(f"{served.base}/admin/users") as r:
            csrf = csrf_of(await r.text())
        async with admin.post(f"{served.base}/admin/users", data={"csrf": csrf, "name": name, "role": "editor"}) as r:
            page = await r.text()
    finally:
        await admin.close()
    found = LINK.search(page)
    assert found is not None
    return found.group(1)


async def set_password(served: Served, path: str, password: str, again: str | None = None) -> int:
    async with browser() as http:
        async with http.get(served.base + path) as r:
            if r.status != 200:
                return r.status
            csrf = csrf_of(await r.text())
        async with http.post(served.base + path, data={"csrf": csrf, "password": password,
                                                       "password2": again or password}) as r:
            return r.status


async def test_the_owner_sets_the_password_once_and_the_link_then_opens_nothing(served: Served) -> None:
    path = await new_link(served, "li.new")
    async with browser() as http:
        assert (await try_login(http, served.base, "li.new", "")).status == 401, "no password before enrolment"
    assert await set_password(served, path, "short") == 400
    assert await set_password(served, path, "li.new-and-more", "li.new-and-more") == 400, "no user name inside"
    assert await set_password(served, path, "a-good-password-1", "a-typo-password-1") == 400
    assert await set_password(served, path, "a-good-password-1") == 200
    assert await set_password(served, path, "someone-elses-try-1") == 404
    async with browser() as http:
        assert (await try_login(http, served.base, "li.new", "a-good-password-1")).status == 303


async def test_a_link_expires_and_a_disabled_users_link_opens_nothing(served: Served) -> None:
    late = await new_link(served, "late.person")
    served.world.clock.advance(hours=73)
    assert await set_password(served, late, "a-good-password-1") == 404
    path = await new_link(served, "gone.person")
    admin = await login(served.base, "admin")
    try:
        async with admin.get(f"{served.base}/admin/users") as r:
            csrf = csrf_of(await r.text())
        async with admin.post(f"{served.base}/admin/users/gone.person/disable", data={"csrf": csrf}) as r:
            assert r.status == 200
    finally:
        await admin.close()
    assert await set_password(served, path, "a-good-password-1") == 404
