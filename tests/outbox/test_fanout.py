"""Fan-out: who gets a delivery row, when it is due, and in which order (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from alerts.outbox.fanout import priority, quiet_hours_end
from alerts.settings.channels import CampaignsSection
from alerts.store.tables import deliveries, drafts, residents
from tests.outbox.helpers import add_residents, approved_draft, phone

# 10:00 in Gaoping (02:00 UTC): outside quiet hours.
DAY = datetime(2026, 7, 12, 2, 0, tzinfo=UTC)
# 23:30 in Gaoping: inside 21:00-08:00.
NIGHT = datetime(2026, 7, 12, 15, 30, tzinfo=UTC)
RULES = CampaignsSection(quiet_hours="21:00-08:00", timezone="Asia/Shanghai", max_per_recipient_per_week=2)


async def addresses(database: Any, draft_id: int) -> dict[str, Any]:
    from alerts.store.tables import messages

    async with database.read() as conn:
        q = (select(deliveries).join(messages, messages.c.id == deliveries.c.message_id)
             .where(messages.c.draft_id == draft_id))
        return {r.address: r for r in await conn.execute(q)}


def test_quiet_hours_end_at_the_window_end_in_local_time() -> None:
    assert quiet_hours_end(DAY, "21:00-08:00", "Asia/Shanghai") is None
    assert quiet_hours_end(NIGHT, "21:00-08:00", "Asia/Shanghai") == datetime(2026, 7, 13, 0, 0, tzinfo=UTC)
    early = datetime(2026, 7, 12, 20, 0, tzinfo=UTC)  # 04:00 local, same window, ends 08:00 that day
    assert quiet_hours_end(early, "21:00-08:00", "Asia/Shanghai") == datetime(2026, 7, 13, 0, 0, tzinfo=UTC)
    assert quiet_hours_end(NIGHT, "", "Asia/Shanghai") is None


def test_priority_puts_higher_levels_first_then_warnings_before_campaigns() -> None:
    assert priority("red", "warning") > priority("orange", "warning") > priority("yellow", "warning")
    assert priority("yellow", "warning") > priority("yellow", "campaign")


async def test_opted_out_residents_get_nothing(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 5, at=DAY)
        await add_residents(conn, 2, at=DAY, start=100, status="opted_out")
        draft_id, result = await approved_draft(conn, at=DAY)
    assert result.deliveries == 5
    assert set(await addresses(database, draft_id)) == {phone(i) for i in range(5)}


async def test_suppression_is_for_duplicates_never_for_news(database: Any) -> None:
    # Before issue 12 a lowered warning reached nobody ("already received the same or higher"); now
    # every change of a chain reaches whom the chain reached, and only the same text twice is dropped.
    async with database.write() as conn:
        await add_residents(conn, 4, at=DAY)
        _, first = await approved_draft(conn, at=DAY, level="orange", group_key="chain:7", text="橙色")
        _, again = await approved_draft(conn, at=DAY, level="orange", group_key="chain:7", text="橙色")
        _, lower = await approved_draft(conn, at=DAY, kind="update", level="yellow", group_key="chain:7",
                                        text="降级为黄色", reach="chain", stage="lower")
        _, extend = await approved_draft(conn, at=DAY, kind="update", level="yellow", group_key="chain:7",
                                         text="黄色继续", reach="chain", stage="extend")
        _, other = await approved_draft(conn, at=DAY, level="yellow", group_key="chain:8", text="另一条")
        _, clear = await approved_draft(conn, at=DAY, kind="all_clear", level="yellow", group_key="chain:7",
                                        text="解除", reach="chain", stage="end")
    assert (first.deliveries, again.deliveries, lower.deliveries, extend.deliveries, other.deliveries,
            clear.deliveries) == (4, 0, 4, 4, 4, 4)


async def test_a_change_reaches_only_those_still_inside_and_the_end_reaches_everyone_the_chain_reached(
        database: Any) -> None:
    inside, outside = ["140581101", "140581102"], ["140581103"]
    async with database.write() as conn:
        await add_residents(conn, 6, at=DAY, areas=[*inside, *outside])  # phones 2 and 5 live outside
        await approved_draft(conn, at=DAY, level="orange", group_key="chain:3", areas=[*inside, *outside], text="橙")
        narrow, n = await approved_draft(conn, at=DAY, kind="update", level="orange", group_key="chain:3",
                                         areas=inside, text="范围缩小", reach="chain", stage="narrow")
        # Newly registered residents inside get the current warning as news, the others nothing new.
        await add_residents(conn, 2, at=DAY, start=10, areas=inside)
        new, w = await approved_draft(conn, at=DAY, kind="update", level="orange", group_key="chain:3", areas=inside,
                                      text="橙（新进入范围）", reach="new", stage="widen")
        clear, c = await approved_draft(conn, at=DAY, kind="all_clear", level="orange", group_key="chain:3",
                                        areas=inside, text="解除", reach="chain", stage="end")
    assert set(await addresses(database, narrow)) == {phone(i) for i in (0, 1, 3, 4)} and n.deliveries == 4
    assert set(await addresses(database, new)) == {phone(10), phone(11)} and w.deliveries == 2
    assert c.deliveries == 8, "the all-clear reaches everyone the chain reached, inside or outside the area now"


async def test_below_red_a_resident_past_the_hourly_budget_waits_an_hour_and_a_red_never_waits(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 2, at=DAY)
        for n in range(2):
            await approved_draft(conn, at=DAY, level="yellow", group_key=f"chain:{20 + n}", text=f"第{n}条",
                                 warning_budget=2)
        third, _ = await approved_draft(conn, at=DAY, level="blue", group_key="chain:30", text="第三条",
                                        warning_budget=2)
        red, _ = await approved_draft(conn, at=DAY, level="red", group_key="chain:31", text="红色", warning_budget=2)
    assert {r.next_attempt_at for r in (await addresses(database, third)).values()} == {DAY + timedelta(hours=1)}
    assert {r.next_attempt_at for r in (await addresses(database, red)).values()} == {DAY}


async def test_campaigns_wait_out_quiet_hours_but_warnings_never_do(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 3, at=NIGHT)
        campaign, c = await approved_draft(conn, at=NIGHT, kind="campaign", level=None, group_key="campaign:a",
                                           campaigns=RULES)
        warning, w = await approved_draft(conn, at=NIGHT, kind="warning", level="yellow", group_key="chain:9",
                                          campaigns=RULES)
    assert c.deferred_until == datetime(2026, 7, 13, 0, 0, tzinfo=UTC) and w.deferred_until is None
    assert {r.next_attempt_at for r in (await addresses(database, campaign)).values()} == {c.deferred_until}
    assert {r.next_attempt_at for r in (await addresses(database, warning)).values()} == {NIGHT}


async def test_campaigns_are_capped_per_recipient_per_week(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 3, at=DAY)
    counts = []
    for n in range(4):
        at = DAY + timedelta(days=n)
        async with database.write() as conn:
            draft_id, result = await approved_draft(conn, at=at, kind="campaign", level=None,
                                                    group_key=f"campaign:{n}", campaigns=RULES)
            await conn.execute(update(drafts).where(drafts.c.id == draft_id).values(decided_at=at))
        counts.append(result.deliveries)
    # Two campaign messages a week each; the third and fourth within the week are suppressed.
    assert counts == [3, 3, 0, 0]
    async with database.write() as conn:
        _, later = await approved_draft(conn, at=DAY + timedelta(days=9), kind="campaign", level=None,
                                        group_key="campaign:later", campaigns=RULES)
        _, warning = await approved_draft(conn, at=DAY + timedelta(days=3), level="blue", group_key="chain:3",
                                          campaigns=RULES)
    assert later.deliveries == 3, "a week later the cap has room again"
    assert warning.deliveries == 3, "warnings are never capped"


async def test_exercises_go_only_to_the_test_audience(database: Any) -> None:
    async with database.write() as conn:
        await add_residents(conn, 3, at=DAY)
        draft_id, result = await approved_draft(conn, at=DAY, exercise=True, test_phones=["13800138000"])
    assert result.deliveries == 1
    assert set(await addresses(database, draft_id)) == {"+8613800138000"}


async def test_an_import_never_resubscribes_an_opted_out_resident(database: Any) -> None:
    from alerts.recipients import ImportReport, ResidentRow, upsert_residents

    async with database.write() as conn:
        await add_residents(conn, 1, at=DAY, status="opted_out")
        report = ImportReport()
        await upsert_residents(conn, [ResidentRow(phone(0), "140581101", None, "elderly", "zh-CN", "import")],
                               at=DAY, report=report)
        row = (await conn.execute(select(residents))).one()
    assert report.updated == 1 and row.status == "opted_out" and row.groups == "elderly"
