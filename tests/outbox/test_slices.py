"""Large fan-outs commit their first slice with the approval and the rest right after, so sending starts
at once; selection rules, chain suppression and withdrawal hold as for a fan-out written whole.
Slice sizes are made small here (a city of 450,000 uses 5,000 and 25,000)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from alerts.channels.base import Ok, Outbound, Outcome
from alerts.clock import ManualClock
from alerts.outbox import slices
from alerts.outbox.worker import Worker
from alerts.settings.channels import ChannelsConfig
from alerts.store import deliveries as store
from alerts.store import drafts as draft_store
from alerts.store.tables import audit_log, deliveries, drafts, fanout_jobs, messages
from tests.outbox.helpers import TOWNSHIPS, add_residents

START = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)
RESIDENTS = 120


@pytest.fixture(autouse=True)
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slices, "FIRST_SLICE", 10)
    monkeypatch.setattr(slices, "SLICE", 25)
    monkeypatch.setattr(slices, "SLICE_ABOVE", 50)


class Recorder:
    name = "sms"

    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    async def send(self, item: Outbound) -> Outcome:
        self.sent.append(item)
        return Ok(provider_id=f"x{item.delivery_id}")

    async def close(self) -> None:
        return None


async def approve(conn: Any, *, level: str = "red", group_key: str = "chain:1", text: str = "暴雨红色预警") -> int:
    items = [draft_store.NewMessage(route="t", template_id="t", template_hash="h", template_reviewed=True,
                                    audience="residents", channel="sms", language="zh-CN", areas=TOWNSHIPS, text=text)]
    draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level=level,
                                        group_key=group_key, exercise=False, created_by="t", at=START, expires_at=None,
                                        items=items)
    await draft_store.transition(conn, draft_id, "pending", "approved", at=START, by="approver")
    record = await draft_store.get(conn, draft_id)
    assert record is not None
    await slices.fan_out(conn, record.row, record.messages, now=START, test_phones=[])
    await draft_store.transition(conn, draft_id, "approved", "dispatching", at=START)
    return draft_id


async def count_for(database: Any, draft_id: int) -> int:
    async with database.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(deliveries).join(
            messages, messages.c.id == deliveries.c.message_id).where(messages.c.draft_id == draft_id))).scalar())


def worker(database: Any, channel: Recorder) -> Worker:
    return Worker(database, {"sms": channel}, ChannelsConfig.model_validate({"sms": {"concurrency": 4}}),
                  ManualClock(START))


async def test_the_approval_commits_a_first_slice_and_the_worker_writes_the_rest_while_sending(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, RESIDENTS, at=START)
        draft_id = await approve(conn)
    assert await count_for(database, draft_id) == 10, "only the first slice is in the approval's transaction"
    channel = Recorder()
    result = await worker(database, channel).drain()
    assert result.sent == RESIDENTS and len({o.address for o in channel.sent}) == RESIDENTS
    async with database.read() as conn:
        state = (await conn.execute(select(drafts.c.state).where(drafts.c.id == draft_id))).scalar()
        jobs = (await conn.execute(select(func.count()).select_from(fanout_jobs))).scalar()
        done = (await conn.execute(select(audit_log.c.after).where(audit_log.c.action == "draft.fanout_done"))).scalar()
    assert (state, jobs) == ("sent", 0)
    assert '"deliveries": 120' in str(done).replace("'", '"')


async def test_a_later_decision_in_the_chain_first_finishes_the_fan_out_so_nobody_gets_both(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, RESIDENTS, at=START)
        first = await approve(conn, level="red")
    # The same text of the same chain approved again before any slice was written (issue 12: suppression
    # drops duplicates only; news of a chain reaches everyone it concerns, see tests/test_follow.py).
    async with database.write() as conn:
        second = await approve(conn, level="red")
    assert await count_for(database, first) == RESIDENTS, "the earlier fan-out was finished first"
    assert await count_for(database, second) == 0, "the same text of a chain is never sent twice"


async def test_a_withdrawn_draft_stops_its_fan_out(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, RESIDENTS, at=START)
        draft_id = await approve(conn)
        await draft_store.transition(conn, draft_id, "dispatching", "withdrawn", at=START)
        stopped = await store.withdraw_for_draft(conn, draft_id, now=START, reason="误发")
    channel = Recorder()
    await worker(database, channel).drain()
    assert stopped == 10 and not channel.sent and await count_for(database, draft_id) == 10


async def test_a_fan_out_left_by_a_crash_is_continued_by_the_next_worker(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, RESIDENTS, at=START)
        draft_id = await approve(conn)
    assert await slices.continue_one(database, START), "one slice written, then the process died"
    assert await count_for(database, draft_id) == 35
    channel = Recorder()
    await worker(database, channel).drain()
    assert await count_for(database, draft_id) == RESIDENTS and len(channel.sent) == RESIDENTS
