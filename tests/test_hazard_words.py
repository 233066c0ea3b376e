"""The level of a change is the one it changes TO; the words name the change; disagreements are settled
by the grade and the CAP severity, with the reason kept on the alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.hazards import DEFAULT_PATH, HazardTable
from alerts.model import Alert, Info, Level

ROOT = Path(__file__).resolve().parent.parent
TABLE = HazardTable.load(DEFAULT_PATH)
B, Y, O, R = Level.blue, Level.yellow, Level.orange, Level.red  # noqa: E741


def explain(headline: str, severity: str = "", event: str = "", description: str = "") -> tuple:
    return TABLE.explain(Info(headline=headline, severity=severity, event=event, description=description))


@pytest.mark.parametrize("headline,level,change", [
    ("高平市气象台将暴雨红色预警信号降级为暴雨橙色预警信号", O, "lower"),
    ("高平市气象台将暴雨橙色预警信号升级为暴雨红色预警信号", R, "raise"),
    ("高平市气象台将暴雨橙色预警升级为红色预警", R, "raise"),          # without 信号
    ("高平市气象台将暴雨黄色预警信号调整为暴雨蓝色预警信号", B, "adjust"),
    ("高平市气象台将大风蓝色预警信号变更为大风黄色预警信号", Y, "adjust"),
    ("高平市气象台将暴雨橙色预警调整为Ⅲ级", Y, "adjust"),               # a grade after the phrase
    ("高平市气象台继续发布暴雨黄色预警信号", Y, "extend"),
    ("高平市气象台延续暴雨黄色预警", Y, "extend"),
    ("高平市气象台解除暴雨橙色预警信号", O, "end"),
    ("高平市气象台取消暴雨橙色预警", O, "end"),
    ("高平市气象台撤回暴雨红色预警信号（误发）", R, "withdraw"),
    ("高平市气象台发布暴雨橙色预警信号【Ⅱ级/严重】", O, None),
    ("Gaoping Meteorological Observatory upgraded the rainstorm yellow warning to orange [Level II/Severe]", O,
     "raise"),
    ("Gaoping Meteorological Observatory downgraded the rainstorm red warning to an orange warning", O, "lower"),
    ("Baoding Meteorological Observatory continues to issue the lightning yellow warning", Y, "extend"),
    ("Baoding Meteorological Observatory lifted the lightning yellow warning", Y, "end"),
    ("Baoding Meteorological Observatory cancelled the lightning yellow warning", Y, "end"),
    ("The lightning yellow warning was issued in error and is withdrawn", Y, "withdraw"),
])
def test_each_phrase_gives_the_level_it_changes_to_and_the_change(headline: str, level: Level, change: str | None
                                                                   ) -> None:
    got_level, got_change, reason = explain(headline)
    assert (got_level, got_change, reason) == (level, change, "")


def test_advice_that_cancels_activities_does_not_end_a_warning() -> None:
    _level, change, _ = explain("高平市气象台发布暴雨橙色预警信号", description="请取消户外活动，注意防范。")
    assert change is None


def test_the_description_says_continue_when_the_headline_only_says_update() -> None:
    level, change, _ = explain("保定市气象台更新雷电黄色预警[Ⅲ级/较重]", severity="Moderate",
                               description="保定市气象台继续发布雷电黄色预警信号：预计今天夜间……")
    assert (level, change) == (Y, "extend")


def test_the_grade_arbitrates_when_an_unknown_phrase_hides_the_target() -> None:
    level, change, reason = explain("高平市气象台将暴雨红色预警信号改成暴雨橙色预警信号【Ⅱ级/严重】")
    assert (level, change) == (O, None)
    assert "grade 【Ⅱ级/严重】 says orange" in reason and "orange is kept" in reason


def test_cap_severity_arbitrates_between_two_named_colours() -> None:
    level, _change, reason = explain("高平市气象台将暴雨红色预警信号改成暴雨橙色预警信号", severity="Severe")
    assert level == O and "CAP severity Severe confirms" in reason


def test_words_and_severity_outvote_a_stray_grade() -> None:
    level, _change, reason = explain("高平市气象台发布暴雨橙色预警信号[Ⅲ级/较重]", severity="Severe")
    assert level == O and "words and CAP severity" in reason


def test_grade_wins_over_words_when_severity_is_silent_and_the_text_names_no_other_colour() -> None:
    level, _change, reason = explain("高平市气象台发布暴雨橙色预警信号[Ⅰ级/特别严重]")
    assert level == R and "the grade, the signal's official level, is kept" in reason


def test_a_coarse_severity_never_overrides_plain_words() -> None:
    level, _change, reason = explain("高平市气象台发布暴雨橙色预警信号", severity="Extreme")
    assert level == O and "the words are kept" in reason


def test_a_colour_in_the_national_profile_severity_is_kept_and_a_disagreement_noted() -> None:
    level, _change, reason = explain("高平市气象台发布暴雨红色预警信号", severity="Orange")
    assert level == O and "severity 'Orange' says orange" in reason


def test_the_reason_is_kept_on_the_alert_and_shown_by_ingest_json(tmp_path: Path) -> None:
    from alerts.cli import cli

    sample = (Path(__file__).parent / "data/cap/constructed-gaoping-rainstorm-orange.gbt35965.xml").read_text("utf-8")
    sample = sample.replace("<severity>Orange</severity>", "<severity>Severe</severity>").replace(
        "<headline>高平市气象台发布暴雨橙色预警[Ⅱ级/严重]</headline>",
        "<headline>高平市气象台将暴雨红色预警信号改成暴雨橙色预警信号[Ⅱ级/严重]</headline>")
    path = tmp_path / "changed.xml"
    path.write_text(sample, encoding="utf-8")
    alert = TABLE.normalise(Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, tzinfo=UTC), infos=[
        Info(language="zh-CN", headline="高平市气象台将暴雨红色预警信号改成暴雨橙色预警信号[Ⅱ级/严重]", event="暴雨")]))
    assert alert.level == O and "orange is kept" in alert.level_reason
    result = CliRunner().invoke(cli, ["ingest", "--json", "--config", str(ROOT / "config"), str(path)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output.splitlines()[0])
    assert doc["level"] == "orange"
    assert "orange is kept" in doc["level_reason"] and doc["infos"][0]["level_reason"] == doc["level_reason"]
