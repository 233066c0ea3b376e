"""CAP 1.2 out: valid against the OASIS schema, and read back by our own parser to the same alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.capout import cap_alert, cap_time, to_xml
from alerts.channels.notice import Published
from alerts.clock import SHANGHAI
from alerts.feeds.cap import parse_alert
from alerts.hazards import HazardTable
from alerts.model import Alert

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = xmlschema.XMLSchema(ROOT / "tests" / "data" / "schemas" / "schema_cap12.xsd")
SOURCE = ROOT / "alerts" / "demo" / "samples" / "constructed-gaoping-rainstorm-orange.gbt35965.xml"
HAZARDS = HazardTable.load(ROOT / "config" / "hazards.yaml")
NAMES = {"140581101": "米山镇", "140581102": "三甲镇", "140581103": "神农镇"}


def source_alert() -> Alert:
    return HAZARDS.normalise(parse_alert(SOURCE.read_bytes()))


def published(**changes: object) -> Published:
    base = Published(
        message_id=12, draft_id=3, text="高平市气象台发布暴雨橙色预警信号，涉及米山镇、三甲镇、神农镇。\n请远离河道。",
        audience="residents", channel="sms", language="zh-CN", areas=["140581101", "140581102", "140581103"],
        kind="warning", state="sent", hazard="rainstorm", level="orange", exercise=False,
        decided_at=datetime(2026, 7, 12, 5, 41, 17, 523000, tzinfo=SHANGHAI),
        created_at=datetime(2026, 7, 12, 5, 30, 2, tzinfo=SHANGHAI),
        expires_at=datetime(2026, 7, 12, 17, 30, tzinfo=SHANGHAI), alert=source_alert(), alert_scope="Public")
    return replace(base, **changes)  # type: ignore[arg-type]


def build(p: Published) -> Alert:
    return cap_alert(p, sender="kepu.gaoping.example", issuer="高平市应急科普预警服务", region_code="140581",
                     area_names=NAMES, web_base="https://kepu.gaoping.example")


def assert_round_trip(built: Alert) -> Alert:
    xml = to_xml(built)
    SCHEMA.validate(xml.decode("utf-8"))
    back = HAZARDS.normalise(parse_alert(xml))
    assert (back.identifier, back.sender, back.sent, back.status, back.msg_type, back.scope) == (
        built.identifier, built.sender, built.sent, built.status, built.msg_type, built.scope)
    assert back.references == built.references
    [b], [o] = back.infos, built.infos
    assert (b.event, b.hazard, b.level, b.severity, b.urgency, b.certainty) == (
        o.event, o.hazard, o.level, o.severity, o.urgency, o.certainty)
    assert (b.headline, b.description, b.sender_name, b.web, b.expires, b.effective) == (
        o.headline, o.description, o.sender_name, o.web, o.expires, o.effective)
    assert [a.model_dump() for a in b.areas] == [a.model_dump() for a in o.areas]
    assert b.event_codes == o.event_codes and b.categories == o.categories
    return back


def test_an_approved_warning_becomes_schema_valid_cap_that_reads_back_to_the_same_alert() -> None:
    built = build(published())
    back = assert_round_trip(built)
    assert back.identifier == "140581-kepu-12" and back.status == "Actual" and back.msg_type == "Alert"
    # It points at the official warning instead of impersonating it.
    assert back.references == [("高平市气象台", "14058141600000_20260712053000", "2026-07-12T05:30:00+08:00")]
    info = back.infos[0]
    assert info.hazard == "rainstorm" and info.level is not None and info.level.value == "orange"
    assert info.severity == "Severe" and info.event == "暴雨"
    assert [g.value for g in info.areas[0].geocodes] == ["140581101000", "140581102000", "140581103000"]
    assert info.areas[0].desc == "米山镇、三甲镇、神农镇"
    assert back.sent.isoformat() == "2026-07-12T05:41:17+08:00"


@pytest.mark.parametrize(("kind", "msg_type"), [("update", "Update"), ("all_clear", "Cancel"),
                                                ("correction", "Update")])
def test_updates_and_all_clears_carry_their_cap_message_type(kind: str, msg_type: str) -> None:
    back = assert_round_trip(build(published(kind=kind)))
    assert back.msg_type == msg_type and back.references


def test_an_exercise_is_written_with_status_exercise() -> None:
    assert assert_round_trip(build(published(exercise=True))).status == "Exercise"


def test_a_campaign_without_a_source_alert_is_still_valid_cap() -> None:
    back = assert_round_trip(build(published(kind="campaign", hazard=None, level=None, alert=None,
                                             alert_scope=None, expires_at=None)))
    assert back.references == [] and back.infos[0].categories == ["Safety"]


def test_cap_times_have_an_offset_and_no_fractions() -> None:
    assert cap_time(datetime(2026, 7, 11, 21, 40, 5, 999, tzinfo=SHANGHAI)) == "2026-07-11T21:40:05+08:00"


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                    max_size=300))
def test_any_message_text_survives_the_round_trip_and_stays_valid(text: str) -> None:
    # XML 1.0 cannot carry most control characters; messages never contain them after drafting.
    clean = "".join(c for c in text if c in "\t\n" or ord(c) >= 0x20 and c not in "\ufffe\uffff")
    if not clean.strip():
        return
    built = build(published(text=clean.strip()))
    xml = to_xml(built)
    SCHEMA.validate(xml.decode("utf-8"))
    assert parse_alert(xml).infos[0].description == built.infos[0].description
