"""SMS rules: encodings, counts with the signature, segments, and the checks a text must pass."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from alerts.content.sms import (
    DEFAULT_SIGNATURE,
    GSM7_BASIC,
    GSM7_EXTENSION,
    LIMITS,
    SmsRules,
    check,
    encoding_of,
    measure,
    segments_for,
)


def test_plain_ascii_is_gsm7_and_chinese_is_ucs2() -> None:
    assert encoding_of("Stay indoors, call 120.") == "GSM-7"
    assert encoding_of("Stay indoors 请留在室内") == "UCS-2"
    assert encoding_of("café £5 {x}") == "GSM-7"  # é and £ are basic, braces are extension characters
    assert encoding_of("ç") == "UCS-2"  # only the capital Ç is in the basic table


def test_signature_is_part_of_the_text_and_the_count() -> None:
    m = measure("你好")
    assert m.text == "【高平应急科普】你好"
    assert (m.characters, m.encoding, m.segments) == (10, "UCS-2", 1)
    assert len(DEFAULT_SIGNATURE) == 8  # the brackets count


def test_ucs2_limits_are_70_single_and_67_per_part() -> None:
    assert measure("字" * 62).segments == 1  # 8 + 62 = 70
    assert measure("字" * 63).segments == 2  # 71
    assert measure("字" * 126).segments == 2  # 134 = 2 × 67
    assert measure("字" * 127).segments == 3  # 135


def test_gsm7_limits_are_160_single_and_153_per_part() -> None:
    assert measure("a" * 160, "").segments == 1
    assert measure("a" * 161, "").segments == 2
    assert measure("a" * 306, "").segments == 2
    assert measure("a" * 307, "").segments == 3


def test_extension_characters_count_two_and_never_split_across_parts() -> None:
    assert measure("[€]", "").characters == 6
    assert measure("a" * 159 + "€", "").segments == 2  # 161 septets
    assert measure("a" * 152 + "€" + "a" * 151, "").segments == 2  # 305 septets, € moves to part two
    assert measure("a" * 152 + "€" + "a" * 152, "").segments == 3  # 306 septets, but € cannot straddle


def test_characters_outside_the_bmp_count_two_in_ucs2() -> None:
    assert measure("雨🌧", "").characters == 3


def test_empty_text_has_no_segments() -> None:
    assert measure("", "").segments == 0


ALPHABET = st.sampled_from(sorted(GSM7_BASIC) + sorted(GSM7_EXTENSION) + list("暴雨高温，。") + ["🌧"])


@given(st.text(alphabet=ALPHABET, max_size=400), st.sampled_from(["", DEFAULT_SIGNATURE, "[Gaoping]"]))
def test_segments_agree_with_the_counting_formula(body: str, signature: str) -> None:
    m = measure(body, signature)
    assert m.text == signature + body
    costly = GSM7_EXTENSION if m.encoding == "GSM-7" else {"🌧"}
    assert m.characters == len(m.text) + sum(c in costly for c in m.text)
    single, per_part = LIMITS[m.encoding]
    if m.characters <= single:
        assert m.segments == (1 if m.characters else 0)
    else:
        # Keeping pairs whole can only add parts, and each part still holds per_part - 1 at least.
        assert math.ceil(m.characters / per_part) <= m.segments <= math.ceil(m.characters / (per_part - 1))
    if not any(c in costly for c in m.text):
        assert m.segments == segments_for(m.characters, m.encoding)


def test_rules_limit_is_134_for_two_ucs2_parts_and_respects_the_provider() -> None:
    assert SmsRules().limit("UCS-2") == 134
    assert SmsRules(max_segments=1).limit("UCS-2") == 70
    assert SmsRules().limit("GSM-7") == 306
    assert SmsRules(max_segments=4, provider_max_characters=250).limit("UCS-2") == 250


def test_check_accepts_a_good_text() -> None:
    assert check("高平市气象台发布暴雨橙色预警信号（高平市全境）。请远离河道。") == []


def test_check_reports_length_with_the_counts() -> None:
    [problem] = check("字" * 127)
    assert problem.startswith("too long: 135 characters (UCS-2, signature included) make 3 segments")
    assert "limit is 134" in problem and "cut 1" in problem
    assert check("字" * 62, SmsRules(max_segments=1)) == []


def test_check_reports_urls() -> None:
    for body in ("详情见 https://example.org/a", "请访问www.gaoping.gov.cn", "登录 gaoping.gov.cn 查看"):
        problems = check(body)
        assert len(problems) == 1 and problems[0].startswith("URL found"), body
    assert check("详情见 https://example.org", SmsRules(forbid_urls=False)) == []
    assert check("拨打120、119。Call 120.") == []


def test_check_reports_banned_words_empty_bodies_and_a_doubled_signature() -> None:
    assert check("恭喜中奖，请回电") == ["banned word found: '中奖'"]
    assert check("请留在室内", SmsRules(banned_words=("室内",))) == ["banned word found: '室内'"]
    assert check("  ") == ["empty: the message body is empty"]
    assert check(DEFAULT_SIGNATURE + "请留在室内")[0].startswith("signature 【高平应急科普】 is already in the body")
