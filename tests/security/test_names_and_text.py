"""User names with '/' or '?', and names or labels with bidirectional or zero-width characters, are refused.

Before: a user 'a/b?c' was accepted (and broke every /admin/users/{name}/... URL), and a display
name with U+202E showed reversed text to whoever read the user list or the audit log.
"""

from __future__ import annotations

import re

import pytest

from alerts.store import users as user_store
from tests.web.conftest import Served, csrf_of, login


@pytest.mark.parametrize("name", ["a/b", "who?x=1", "Wang", "wang approver", "", "x" * 65, "-lead", "张三"])
async def test_names_outside_the_pattern_are_refused_everywhere(served: Served, name: str) -> None:
    assert user_store.name_problem(name) is not None
    with pytest.raises(ValueError, match="not allowed"):
        async with served.world.service.db.write() as conn:
            await user_store.add(conn, name, ["observer"], None, at=served.world.clock.now())
    admin = await login(served.base, "admin")
    try:
        async with admin.get(f"{served.base}/admin/users") as r:
            csrf = csrf_of(await r.text())
        async with admin.post(f"{served.base}/admin/users", data={"csrf": csrf, "name": name, "role": "observer"}) as r:
            assert r.status == 400 and "用户名不符合规则" in await r.text()
    finally:
        await admin.close()


@pytest.mark.parametrize("text", ["王\u202e伟", "张\u200b三", "李\u2066四\u2069"])
async def test_display_names_with_hidden_characters_are_refused(served: Served, text: str) -> None:
    admin = await login(served.base, "admin")
    try:
        async with admin.get(f"{served.base}/admin/users") as r:
            csrf = csrf_of(await r.text())
        async with admin.post(f"{served.base}/admin/users", data={"csrf": csrf, "name": "new.person",
                                                                  "display_name": text, "role": "observer"}) as r:
            page = await r.text()
        assert r.status == 400 and "未添加" in page and text not in page
    finally:
        await admin.close()


async def test_token_labels_lose_hidden_characters(served: Served) -> None:
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/account") as r:
            csrf = csrf_of(await r.text())
        async with http.post(f"{served.base}/account/tokens", data={"csrf": csrf, "label": "气象\u202e局\u200b"}) as r:
            page = await r.text()
        assert re.search("气象局", page) and "\u202e" not in page and "\u200b" not in page
    finally:
        await http.close()
