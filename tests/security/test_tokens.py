"""API tokens: revocable one by one, never restored by enabling a user again, `last_used` written.

Before: a token could not be revoked on its own, enabling a disabled user brought all of their
tokens back, and `last_used` was never written.
"""

from __future__ import annotations

import re

import aiohttp

from alerts.store import users as user_store
from tests.web.conftest import Served, csrf_of, login

WANG = "wang.approver"


async def own_token(http: aiohttp.ClientSession, served: Served, label: str) -> tuple[str, str]:
    async with http.get(f"{served.base}/account") as r:
        csrf = csrf_of(await r.text())
    async with http.post(f"{served.base}/account/tokens", data={"csrf": csrf, "label": label}) as r:
        text = await r.text()
    token = re.search(r"<code>(alt_[^<]+)</code>", text)
    assert token is not None
    return token.group(1), csrf


async def status_with(served: Served, token: str) -> int:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{served.base}/api/v1/drafts", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def test_tokens_are_revoked_one_by_one_and_record_their_last_use(served: Served) -> None:
    http = await login(served.base, WANG)
    try:
        first, csrf = await own_token(http, served, "bureau system")
        second, csrf = await own_token(http, served, "phone app")
        assert await status_with(served, first) == 200
        async with served.world.service.db.read() as conn:
            user = await user_store.by_name(conn, WANG)
            assert user is not None
            tokens = {t.name: t for t in await user_store.tokens_of(conn, user.id)}
        assert tokens["bureau system"].last_used_at == served.world.clock.now()
        assert tokens["phone app"].last_used_at is None
        async with http.post(f"{served.base}/account/tokens/{tokens['bureau system'].id}/revoke",
                             data={"csrf": csrf}) as r:
            assert r.status == 200 and "已撤销" in await r.text()
        assert await status_with(served, first) == 401
        assert await status_with(served, second) == 200, "the other token still works"
        # Someone else's token id is not theirs to revoke.
        async with served.world.service.db.read() as conn:
            [zhao_token] = await user_store.tokens_of(conn, served.world.users["zhao.approver"].id)
        async with http.post(f"{served.base}/account/tokens/{zhao_token.id}/revoke", data={"csrf": csrf}) as r:
            assert r.status == 404
        assert await status_with(served, served.world.tokens["zhao.approver"]) == 200
    finally:
        await http.close()


async def test_enabling_a_user_again_restores_none_of_their_tokens(served: Served) -> None:
    token = served.world.tokens[WANG]
    assert await status_with(served, token) == 200
    admin = await login(served.base, "admin")
    try:
        async with admin.get(f"{served.base}/admin/users") as r:
            csrf = csrf_of(await r.text())
        for action in ("disable", "enable"):
            async with admin.post(f"{served.base}/admin/users/{WANG}/{action}", data={"csrf": csrf}) as r:
                assert r.status == 200
    finally:
        await admin.close()
    assert await status_with(served, token) == 401


async def test_an_admin_revokes_one_token_of_a_person_without_seeing_it(served: Served) -> None:
    admin = await login(served.base, "admin")
    try:
        async with admin.get(f"{served.base}/admin/users") as r:
            text = await r.text()
        assert served.world.tokens[WANG] not in text
        found = re.search(rf"/admin/users/{re.escape(WANG)}/tokens/(\d+)/revoke", text)
        assert found
        async with admin.post(f"{served.base}{found.group(0)}", data={"csrf": csrf_of(text)}) as r:
            assert r.status == 200
    finally:
        await admin.close()
    assert await status_with(served, served.world.tokens[WANG]) == 401
    assert await status_with(served, served.world.tokens["zhao.approver"]) == 200
