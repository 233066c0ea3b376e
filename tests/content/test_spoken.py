"""Times, numbers and area phrases come out as a Chinese voice says them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.content.render import CONTEXT_KEYS, TZ, build_campaign_context, build_context
from alerts.content.spoken import area_spoken, clock_words, day_time_spoken, in_force_spoken, number_words
from alerts.model import Alert, Info, Level


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 7, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(("moment", "spoken"), [
    (at(28, 14, 10), "二十八日下午两点十分"),
    (at(28, 5, 30), "二十八日凌晨五点半"),
    (at(28, 12, 0), "二十八日中午十二点"),
    (at(28, 12, 45), "二十八日中午十二点四十五分"),
    (at(1, 0, 0), "一日凌晨零点"),
    (at(2, 0, 5), "二日凌晨零点零五分"),
    (at(10, 6, 0), "十日早上六点"),
    (at(20, 8, 59), "二十日早上八点五十九分"),
    (at(21, 9, 15), "二十一日上午九点十五分"),
    (at(11, 11, 2), "十一日上午十一点零二分"),
    (at(12, 13, 0), "十二日下午一点"),
    (at(29, 17, 20), "二十九日下午五点二十分"),
    (at(30, 18, 0), "三十日晚上六点"),
    (at(31, 23, 59), "三十一日晚上十一点五十九分"),
    (at(22, 2, 30), "二十二日凌晨两点半"),
])
def test_issue_time_in_words(moment: datetime, spoken: str) -> None:
    assert day_time_spoken(moment) == spoken


def test_spoken_time_is_shanghai_local() -> None:
    # 06:10 UTC is 14:10 in Gaoping; 16:05 UTC on the 31st is already the 1st there.
    assert day_time_spoken(datetime(2026, 11, 28, 6, 10, tzinfo=UTC)) == "二十八日下午两点十分"
    assert day_time_spoken(datetime(2026, 12, 31, 16, 5, tzinfo=UTC)) == "一日凌晨零点零五分"
    assert day_time_spoken(datetime(2026, 11, 28, 9, 5)) == "二十八日上午九点零五分"  # naive: already local
    assert day_time_spoken(None) == ""


def test_in_force_phrase_in_words_or_until_lifted() -> None:
    assert in_force_spoken(at(29, 14, 0)) == "有效到二十九日下午两点"
    assert in_force_spoken(None) == "解除时另行通知"


def test_numbers_as_words() -> None:
    assert [number_words(n) for n in (0, 2, 10, 11, 20, 28, 31, 59)] == [
        "零", "二", "十", "十一", "二十", "二十八", "三十一", "五十九"]
    assert number_words(2, counting=True) == "两"
    assert number_words(12, counting=True) == "十二"
    assert number_words(140581) == "一四零五八一"  # codes are read digit by digit


def test_area_phrase_numbers_as_words() -> None:
    assert area_spoken("北城街道、东城街道、南城街道等15个乡镇") == "北城街道、东城街道、南城街道等十五个乡镇"
    assert area_spoken("高平市2个乡镇") == "高平市两个乡镇"
    assert area_spoken("米山镇、三甲镇") == "米山镇、三甲镇"


@given(st.integers(0, 23), st.integers(0, 59))
def test_every_clock_time_is_words_only(hour: int, minute: int) -> None:
    spoken = clock_words(hour, minute)
    assert not any(c.isdigit() for c in spoken)
    assert spoken.startswith(("凌晨", "早上", "上午", "中午", "下午", "晚上"))
    assert "点" in spoken and "二点" not in spoken.replace("十二点", "")  # 两点, never 二点


def test_both_contexts_carry_the_spoken_keys() -> None:
    info = Info(language="zh-CN", event="暴雨", sender_name="", expires=at(29, 14, 0), hazard="rainstorm",
                level=Level("orange"))
    alert = Alert(identifier="t", sender="t", sent=at(28, 14, 10), msg_type="Alert", infos=[info])
    ctx = build_context(alert, hazard_zh="暴雨", area_phrase="高平市5个乡镇", area_names=[], issuer_default="高平市气象台",
                        channel="voice")
    assert (ctx["issued_spoken"], ctx["in_force_spoken"], ctx["areas_spoken"]) == (
        "二十八日下午两点十分", "有效到二十九日下午两点", "高平市五个乡镇")
    campaign = build_campaign_context(area_phrase="高平市全境", area_names=[], now=at(12, 9, 0))
    assert (campaign["issued_spoken"], campaign["in_force_spoken"], campaign["areas_spoken"]) == (
        "十二日上午九点", "", "高平市全境")
    assert {"issued_spoken", "in_force_spoken", "areas_spoken"} <= set(CONTEXT_KEYS)
    assert set(campaign) == set(CONTEXT_KEYS)
