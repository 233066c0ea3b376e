"""Lockout abuse: wrong passwords slow an attacker down but never lock the approvers out.

Before: five wrong passwords locked the account (also against its owner), and twenty from one
address answered 429 to everyone behind it, behind a reverse proxy the whole console.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerts.store import users as user_store
from tests.security.conftest import browser, try_login
from tests.web.conftest import Served
from tests.workflow.support import PASSWORDS

WANG = "wang.approver"


def via(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_wrong_passwords_wait_longer_each_time_but_never_lock(proxied: Served) -> None:
    clock = proxied.world.clock
    async with browser() as http:
        statuses = [(await try_login(http, proxied.base, WANG, "wrong-password")).status for _ in range(4)]
        assert statuses == [401, 401, 401, 401]  # three free, the fourth sets the first wait (2 s)
        waiting = await try_login(http, proxied.base, WANG, PASSWORDS[WANG])
        assert waiting.status == 429 and waiting.headers["Retry-After"] == "2"
        clock.advance(seconds=2)
        assert (await try_login(http, proxied.base, WANG, "wrong-password")).status == 401
        assert (await try_login(http, proxied.base, WANG, "wrong-password")).headers["Retry-After"] == "4"
        clock.advance(seconds=4)
        # No lock: once the short wait is over the right password works.
        assert (await try_login(http, proxied.base, WANG, PASSWORDS[WANG])).status == 303


async def test_an_attack_from_one_client_does_not_slow_the_owner_elsewhere(proxied: Served) -> None:
    async with browser() as attacker:
        for _ in range(12):
            await try_login(attacker, proxied.base, WANG, "guess", headers=via("203.0.113.9"))
        assert (await try_login(attacker, proxied.base, WANG, "guess", headers=via("203.0.113.9"))).status == 429
    async with browser() as owner:
        ok = await try_login(owner, proxied.base, WANG, PASSWORDS[WANG], headers=via("198.51.100.20"))
        assert ok.status == 303


async def test_behind_one_proxy_the_others_are_not_punished_for_one_attacker(proxied: Served) -> None:
    async with browser() as attacker:
        for i in range(25):  # many accounts guessed from one address
            await try_login(attacker, proxied.base, f"guess{i}", "wrong", headers=via("203.0.113.9"))
    async with browser() as colleague:
        ok = await try_login(colleague, proxied.base, "zhao.approver", PASSWORDS["zhao.approver"],
                             headers=via("198.51.100.21"))
        assert ok.status == 303


async def test_a_remembered_device_gets_in_while_the_account_is_under_attack(proxied: Served) -> None:
    async with browser() as phone:
        assert (await try_login(phone, proxied.base, WANG, PASSWORDS[WANG], headers=via("198.51.100.7"))).status == 303
        assert any(c.key == "alerts_device" for c in phone.cookie_jar)
        # An attack from many addresses: past the account's allowance every new client must wait.
        async with browser() as botnet:
            for i in range(30):
                await try_login(botnet, proxied.base, WANG, "guess", headers=via(f"203.0.113.{i + 1}"))
            fresh = await try_login(botnet, proxied.base, WANG, PASSWORDS[WANG], headers=via("192.0.2.200"))
            assert fresh.status == 429
        # The owner's phone, even from the address of the attack, still gets in.
        again = await try_login(phone, proxied.base, WANG, PASSWORDS[WANG], headers=via("203.0.113.1"))
        assert again.status == 303


async def test_forwarded_addresses_from_untrusted_clients_are_ignored(served: Served) -> None:
    """Without a trusted proxy, rotating X-Forwarded-For does not make an attacker many clients."""
    async with browser() as attacker:
        statuses = [(await try_login(attacker, served.base, WANG, "guess",
                                     headers=via(f"203.0.113.{i + 1}"))).status for i in range(6)]
    assert 429 in statuses


class CountingHasher:
    """The real argon2 hasher, counting verifications and the cost parameters they ran with."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.calls: list[str] = []

    def verify(self, stored: str, password: str) -> bool:
        self.calls.append(stored.split("$")[3])  # m=...,t=...,p=...
        return bool(self.inner.verify(stored, password))

    def hash(self, password: str) -> str:
        return str(self.inner.hash(password))


@pytest.mark.parametrize("who", ["nobody.here", "disabled.user", "not.enrolled", WANG])
async def test_a_wrong_password_costs_the_same_work_whether_the_user_exists(
        served: Served, monkeypatch: pytest.MonkeyPatch, who: str) -> None:
    world = served.world
    async with world.service.db.write() as conn:
        await user_store.add(conn, "disabled.user", ["approver"], "disabled-password-1", at=world.clock.now())
        await user_store.set_disabled(conn, "disabled.user", True)
        await user_store.add(conn, "not.enrolled", ["approver"], None, at=world.clock.now())
    reference = CountingHasher(user_store._hasher)
    async with world.service.db.read() as conn:
        monkeypatch.setattr(user_store, "_hasher", reference)
        await user_store.check_login(conn, WANG, "wrong-password")
        counting = CountingHasher(user_store._hasher.inner)
        monkeypatch.setattr(user_store, "_hasher", counting)
        outcome = await user_store.check_login(conn, who, "wrong-password")
    assert outcome.user is None
    assert counting.calls == reference.calls, "one argon2 verification with the same cost, whoever it is"
    async with browser() as http:
        answer = await try_login(http, served.base, who, "wrong-password")
        text = await answer.text()
    assert answer.status == 401 and "用户名或密码不正确" in text
