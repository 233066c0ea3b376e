"""The pieces under events: who is on duty across midnight, the 叫应 roster's CSV checks, and filled
skeleton fields refused with the field named."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from alerts.areas import Areas
from alerts.clock import SHANGHAI
from alerts.events.departments import on_duty, roster_gaps
from alerts.events.people import parse_people_csv
from alerts.events.skeletons import SkeletonError, Skeletons
from alerts.settings import load_settings
from alerts.settings.departments import Department

ROOT = Path(__file__).resolve().parents[2]
DEPT = Department.model_validate({
    "name": "测试局", "short": "测试局",
    "contacts": [{"key": "day", "name": "甲", "phone": "+8613800000001"},
                 {"key": "night", "name": "乙", "phone": "+8613800000002"}],
    "roster": [{"contact": "day", "days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00"},
               {"contact": "night", "days": "all", "from": "20:00", "to": "08:00"}]})


@pytest.mark.parametrize(("when", "who"), [
    ("2026-07-13 09:00", ["day"]),        # Monday morning
    ("2026-07-13 21:00", ["night"]),      # Monday evening
    ("2026-07-14 03:00", ["night"]),      # Monday's night shift, after midnight
    ("2026-07-18 10:00", []),             # Saturday daytime: nobody
    ("2026-07-13 20:00", ["night"]),      # the hand-over minute belongs to the next shift
])
def test_who_is_on_duty_follows_the_roster_across_midnight(when: str, who: list[str]) -> None:
    at = datetime.fromisoformat(when).replace(tzinfo=SHANGHAI)
    assert [d.contact.key for d in on_duty("t", DEPT, at)] == who


def test_roster_gaps_name_the_uncovered_hours() -> None:
    assert roster_gaps(DEPT) == ["sat 08:00-20:00", "sun 08:00-20:00"]


def test_the_people_csv_reports_each_bad_row_and_keeps_the_good_ones() -> None:
    areas = Areas(load_settings(ROOT / "config").areas)
    text = ("key,name,role,level,area,unit,kind,rank,phone\n"
            "a,张三,镇长,township,米山镇,,,1,13800000001\n"
            "b,李四,书记,village,米山镇,,,1,13800000002\n"            # a village person needs the village
            "c,王五,安全员,institution,火星镇,某矿,,x,123\n"          # unknown area, no kind, bad rank and phone
            "a,赵六,镇长,township,米山镇,,,1,13800000003\n")          # the key again
    rows, problems = parse_people_csv(text, areas)
    assert [r.key for r in rows] == ["a"] and rows[0].phone == "+8613800000001" and rows[0].area == "140581101"
    found = {(p.row, p.field) for p in problems}
    assert found == {(3, "unit"), (4, "area"), (4, "kind"), (4, "rank"), (4, "phone"), (5, "key")}


def test_filled_fields_are_checked_and_named() -> None:
    sk = Skeletons.load(ROOT / "templates").usable("policy", "traffic_control")
    good = {"road": "S330线米山段", "period": "7月12日8时起", "detour": "G207国道", "phone": "0356-5220000"}
    assert sk.fill(good)["road"] == "S330线米山段"
    for bad, field, words in [({**good, "road": "x\u202ey"}, "road", "retype it as plain text"),
                              ({**good, "detour": ""}, "detour", "is empty"),
                              ({**good, "detour": "www.g207.cn"}, "detour", "web address"),
                              ({**good, "extra": "1"}, "extra", "unknown field")]:
        with pytest.raises(SkeletonError) as err:
            sk.fill(bad)
        assert field in str(err.value) and words in str(err.value)
