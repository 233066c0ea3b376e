"""Alert lifecycle on SQLite and PostgreSQL: duplicates, Update, Cancel, out-of-order arrival, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts import lifecycle
from alerts.clock import SHANGHAI
from alerts.feeds.cap import parse_alert
from alerts.hazards import HazardTable
from alerts.model import Alert
from alerts.store import alerts as alert_store
from alerts.store.tables import alerts

DATA = Path(__file__).resolve().parent / "data" / "cap"
ALERT = (DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_bytes()  # sender 高平市气象台
CANCEL = (DATA / "constructed-gaoping-rainstorm-orange-cancel.cap12.xml").read_bytes()  # sender in Latin letters
ALERT_ID = "14058141600000_20260712053000"
NOW = datetime(2026, 7, 12, 6, 0, tzinfo=SHANGHAI)
TABLE = HazardTable.load()


def parsed(data: bytes) -> Alert:
    return TABLE.normalise(parse_alert(data))


def update_message() -> bytes:
    """The Cancel sample turned into an Update (red) that references the same first alert."""
    return (CANCEL.replace(b"<msgType>Cancel</msgType>", b"<msgType>Update</msgType>")
            .replace(b"14058141600000_20260712113000", b"14058141600000_20260712080000")
            .replace(b"<urgency>Past</urgency>", b"<urgency>Immediate</urgency>")
            .replace(b"<severity>Severe</severity>", b"<severity>Extreme</severity>")
            .replace("解除暴雨橙色预警".encode(), "发布暴雨红色预警[Ⅰ级/特别严重]".encode())
            .replace("橙色".encode(), "红色".encode()))


async def store(database: Any, data: bytes, at: datetime = NOW) -> lifecycle.Stored:
    async with database.write() as conn:
        return await lifecycle.store(conn, parsed(data), now=at)


async def row(database: Any, alert_id: int) -> Any:
    async with database.read() as conn:
        return await alert_store.get(conn, alert_id)


async def events(database: Any, alert_id: int) -> list[tuple[str, str]]:
    async with database.read() as conn:
        return [(e.change, e.cause) for e in await alert_store.events(conn, alert_id)]


def test_the_samples_use_different_sender_strings_for_the_same_observatory() -> None:
    first, cancel = parsed(ALERT), parsed(CANCEL)
    assert first.sender == "高平市气象台" and cancel.sender == "Gaoping_Meteorological_Observatory"
    assert cancel.references[0][:2] == ("Gaoping_Meteorological_Observatory", ALERT_ID)


async def test_copies_of_one_alert_are_stored_once(database: Any) -> None:
    first = await store(database, ALERT)
    again = await store(database, ALERT, NOW + timedelta(minutes=1))
    third = await store(database, ALERT, NOW + timedelta(minutes=2))
    assert not first.duplicate and again.duplicate and third.duplicate
    assert again.alert_id == third.alert_id == first.alert_id
    async with database.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(alerts))).scalar_one() == 1
    assert [c for c, _ in await events(database, first.alert_id)] == ["received"]


async def test_cancel_after_the_alert_cancels_it_across_sender_spellings(database: Any) -> None:
    first = await store(database, ALERT)
    cancel = await store(database, CANCEL, NOW + timedelta(hours=5))
    assert cancel.cancelled == [first.alert_id] and cancel.chain_id == first.chain_id
    assert (await row(database, first.alert_id)).state == "cancelled"
    assert ("cancelled", "by 14058141600000_20260712113000") in await events(database, first.alert_id)
    assert (await row(database, cancel.alert_id)).state == "active"


async def test_update_supersedes_the_alert_it_references(database: Any) -> None:
    first = await store(database, ALERT)
    update = await store(database, update_message(), NOW + timedelta(hours=2))
    assert update.superseded == [first.alert_id] and update.chain_id == first.chain_id
    assert (await row(database, first.alert_id)).state == "superseded"
    assert ("superseded", "by 14058141600000_20260712080000") in await events(database, first.alert_id)
    stored = await row(database, update.alert_id)
    assert stored.level == "red" and stored.msg_type == "Update"


async def test_a_cancel_that_arrives_first_waits_and_cancels_the_alert_on_arrival(database: Any) -> None:
    cancel = await store(database, CANCEL)
    assert cancel.cancelled == []
    waiting = await events(database, cancel.alert_id)
    assert ("waiting", f"references {ALERT_ID}, not received yet; linked when it arrives") in waiting

    first = await store(database, ALERT, NOW + timedelta(minutes=1))
    assert first.cancelled_on_arrival
    assert (await row(database, first.alert_id)).state == "cancelled"
    changes = await events(database, first.alert_id)
    assert ("linked", "referenced earlier by 14058141600000_20260712113000") in changes
    assert ("cancelled", "by 14058141600000_20260712113000 (received first)") in changes
    assert (await row(database, cancel.alert_id)).chain_id == (await row(database, first.alert_id)).chain_id


async def test_an_update_that_arrives_first_supersedes_the_alert_on_arrival(database: Any) -> None:
    update = await store(database, update_message())
    first = await store(database, ALERT, NOW + timedelta(minutes=1))
    assert not first.cancelled_on_arrival
    assert (await row(database, first.alert_id)).state == "superseded"
    assert (await row(database, update.alert_id)).chain_id == (await row(database, first.alert_id)).chain_id


async def test_alert_update_cancel_and_a_late_duplicate_make_one_chain(database: Any) -> None:
    first = await store(database, ALERT)
    update = await store(database, update_message(), NOW + timedelta(hours=1))
    update_again = await store(database, update_message(), NOW + timedelta(hours=1, minutes=1))
    cancel = await store(database, CANCEL, NOW + timedelta(hours=5))
    late_copy = await store(database, ALERT, NOW + timedelta(hours=6))
    assert update_again.duplicate and late_copy.duplicate
    assert {first.chain_id, update.chain_id, cancel.chain_id} == {first.alert_id}
    assert (await row(database, first.alert_id)).state == "cancelled"  # superseded, then cancelled
    changes = [c for c, _ in await events(database, first.alert_id)]
    assert changes == ["received", "superseded", "cancelled"]


async def test_expiry_is_swept_and_recorded(database: Any) -> None:
    first = await store(database, ALERT)
    async with database.write() as conn:
        assert await lifecycle.expire_due(conn, NOW) == []
    expires = parsed(ALERT).expires
    assert expires is not None
    async with database.write() as conn:
        assert await lifecycle.expire_due(conn, expires + timedelta(seconds=1)) == [first.alert_id]
    assert (await row(database, first.alert_id)).state == "expired"
    assert ("expired", "expiry time passed") in await events(database, first.alert_id)
    async with database.write() as conn:
        assert await lifecycle.expire_due(conn, expires + timedelta(hours=1)) == []  # once


async def test_exercise_alerts_are_kept_and_marked_non_public(database: Any) -> None:
    drill = ALERT.replace(b"<status>Actual</status>", b"<status>Exercise</status>")
    alert = parsed(drill)
    assert alert.is_exercise and not alert.is_public_actual
    stored = await store(database, drill)
    assert (await row(database, stored.alert_id)).status == "Exercise"
