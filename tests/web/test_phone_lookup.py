"""号码查询: what was sent to a resident's number, for the duty officer answering a call — masked unless the
role may see numbers, never in a URL, every lookup audited (masked), refused without the permission."""

from __future__ import annotations

import re

from alerts.store import users as user_store
from alerts.workflow import audit
from tests.web.conftest import Served, csrf_of, login
from tests.workflow.support import password_hash

PHONE = "13800138000"  # a demo resident of 米山镇 (config/demo/residents.csv)
MISHAN = "140581101"


async def sent_orange(served: Served) -> int:
    world = served.world
    draft_id = await world.ingest(level="orange")
    await world.service.actions.approve(world.users["wang.approver"], draft_id, origin="test")
    await world.service.worker.drain()
    return draft_id


async def add_coordinator(served: Served) -> None:
    world = served.world
    async with world.service.db.write() as conn:
        await user_store.add(conn, "duty.coordinator", ["coordinator"], "duty.coordinator-password-1",
                             at=world.clock.now(), password_hash=password_hash("duty.coordinator-password-1"))


async def look_up(http: object, base: str, **form: str) -> tuple[str, str]:
    async with http.get(f"{base}/lookup") as r:  # type: ignore[attr-defined]
        csrf = csrf_of(await r.text())
    async with http.post(f"{base}/lookup", data={"csrf": csrf, **form}, allow_redirects=False) as r:  # type: ignore[attr-defined]
        assert r.status == 303
        location = r.headers["Location"]
    async with http.get(base + location) as r:  # type: ignore[attr-defined]
        return location, await r.text()


async def test_an_approver_sees_what_was_sent_to_a_number_masked_and_the_lookup_is_audited(served: Served) -> None:
    draft_id = await sent_orange(served)
    http = await login(served.base, "wang.approver")
    try:
        async with http.get(f"{served.base}/") as r:
            assert 'href="/lookup"' in await r.text()
        location, page = await look_up(http, served.base, phone=PHONE)
        assert PHONE[3:7] not in location and "8000" not in location  # the number is never in a URL
        assert "+86 138****8000" in page and PHONE not in page
        assert f'href="/drafts/{draft_id}"' in page and "米山镇" in page and "正常接收" in page
        assert re.search(r'class="state st-(sent|delivered)">(已发送|已送达)<', page)
        # By the last four digits within the township, as a caller who gives only those.
        _, page = await look_up(http, served.base, phone="8000", township=MISHAN)
        assert f'href="/drafts/{draft_id}"' in page
        async with http.get(f"{served.base}/lookup") as r:
            csrf = csrf_of(await r.text())
        async with http.post(f"{served.base}/lookup", data={"csrf": csrf, "phone": "8000"}) as r:
            assert "请同时选择乡镇" in await r.text()
        async with http.post(f"{served.base}/lookup", data={"csrf": csrf, "phone": "12"}) as r:
            assert "号码无法识别" in await r.text()
    finally:
        await http.close()
    async with served.world.service.db.read() as conn:
        entries = [e for e in await audit.recent(conn, limit=50) if e.action == "lookup.phone"]
    assert len(entries) == 2 and all(e.actor == "wang.approver" for e in entries)
    assert all(PHONE not in str(e.target) + str(e.after) for e in entries)


async def test_the_coordinator_sees_the_full_number_and_others_cannot_reuse_a_result(served: Served) -> None:
    await sent_orange(served)
    await add_coordinator(served)
    coordinator = await login(served.base, "duty.coordinator", "duty.coordinator-password-1")
    approver = await login(served.base, "wang.approver")
    try:
        location, page = await look_up(coordinator, served.base, phone=PHONE)
        assert "+8613800138000" in page
        async with approver.get(served.base + location) as r:  # someone else's result key
            text = await r.text()
        assert "已过期" in text and "+8613800138000" not in text and "138****8000" not in text
    finally:
        await coordinator.close()
        await approver.close()


async def test_lookup_needs_the_permission(served: Served) -> None:
    await sent_orange(served)
    http = await login(served.base, "liu.observer")
    try:
        async with http.get(f"{served.base}/") as r:
            page = await r.text()
        assert 'href="/lookup"' not in page
        async with http.get(f"{served.base}/lookup", allow_redirects=False) as r:
            assert r.status == 403
        async with http.post(f"{served.base}/lookup", data={"csrf": csrf_of(page), "phone": PHONE},
                             allow_redirects=False) as r:
            assert r.status == 403
    finally:
        await http.close()
    approver = await login(served.base, "wang.approver")
    try:
        async with approver.post(f"{served.base}/lookup", data={"csrf": "forged", "phone": PHONE}) as r:
            assert r.status == 403  # CSRF
    finally:
        await approver.close()
