"""Text hygiene: invisible and control characters never pass an edge where text enters."""

from __future__ import annotations

import pytest

from alerts.textclean import clean, is_clean, problems


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\u000b", "\x00", "\x85", "\u00ad"])
def test_invisible_and_control_characters_are_stripped(char: str) -> None:
    text = f"请拨打12{char}0急救"
    assert clean(text) == "请拨打120急救"
    assert not is_clean(text)


def test_newlines_and_tabs_stay_in_multi_line_text_but_not_in_one_line_fields() -> None:
    assert clean("第一行\r\n第二行\t尾") == "第一行\n第二行\t尾"
    assert clean("高平市\n气象台\t", one_line=True) == "高平市 气象台 "


def test_problems_say_where_and_what_for_a_person_to_fix() -> None:
    found = problems("暴雨\u000b橙色", field="text")
    assert len(found) == 1
    assert "text: character 3 is U+000B" in found[0] and "delete it" in found[0]
    assert problems("暴雨橙色预警") == []
