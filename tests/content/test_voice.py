"""Spoken versions: what a TTS template may hold, how long it reads, and that every resident text has one."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from alerts.content.hazards import default_hazards
from alerts.content.library import Library, record_review
from alerts.content.lint import WORST_AREA, WORST_ISSUER, coverage_problems, lint, worst_contexts
from alerts.content.render import TZ, render
from alerts.content.voice import (
    VOICE_MAX_CHARS,
    VOICE_MIN_CHARS,
    source_problems,
    spoken_length,
    text_problems,
)

VOICE = """id: {id}
hazard: {hazard}
levels: [{levels}]
audience: residents
channel: voice
language: zh-CN
stage: {stage}
version: 1
title: 测试
text: |-
  {text}
"""
# A well-formed script of about the right length, to be spoiled one way at a time.
GOOD = ("高温橙色预警。{{ issuer }}于{{ issued_spoken }}发布，范围是{{ areas_spoken }}。午后最热的三个小时，停止户外露天作业。"
        "请少出门、多喝水，照看好家里的老人和孩子。有人头晕、恶心，马上扶到阴凉处降温，严重的请拨打一二零。"
        "这次预警{{ in_force_spoken }}。再说一遍：午后不在户外干活，多喝水。")


def add(root: Path, text: str, *, id: str = "heat.extra.residents.voice", hazard: str = "heat", levels: str = "orange",
        stage: str = "warning") -> Path:
    path = root / hazard / f"{id.removeprefix(hazard + '.').removesuffix('.voice')}.residents.voice.yaml"
    path.write_text(VOICE.format(id=id, hazard=hazard, levels=levels, stage=stage, text=text), encoding="utf-8")
    return path


def voice_messages(root: Path, template_id: str) -> list[str]:
    return [p.message for p in lint(Library.load(root), coverage=False) if p.template_id == template_id
            and p.code == "voice"]


def test_a_good_script_passes(library_copy: Path) -> None:
    add(library_copy, GOOD)
    assert voice_messages(library_copy, "heat.extra.residents.voice") == []


@pytest.mark.parametrize(("spoil", "expected"), [
    (("一二零", "120"), "holds digits '012'"),
    (("一二零", "一二零（急救）"), "holds brackets"),
    (("一氧化碳", "CO"), "holds Latin letters"),
    (("多喝水。", "多喝水，气温三十七℃。"), "holds symbols '℃'"),
    (("再说一遍：", "记住："), "does not repeat its key action"),
    (("高温橙色预警。", "请注意，高温橙色预警。"), "does not start with the hazard"),
    (("于{{ issued_spoken }}", "今天"), "does not say when the warning was issued"),
    (("{{ issuer }}于", "有关部门于"), "does not name its source"),
    (("高温橙色预警。", "高温橙色预警。现发布"), "contains '现发布'"),
])
def test_each_voice_rule_is_enforced(library_copy: Path, spoil: tuple[str, str], expected: str) -> None:
    text = GOOD.replace("拨打一二零", "拨打一二零，防一氧化碳") if spoil[0] == "一氧化碳" else GOOD
    add(library_copy, text.replace(*spoil, 1))
    messages = voice_messages(library_copy, "heat.extra.residents.voice")
    assert any(expected in m for m in messages), messages


@pytest.mark.parametrize(("source", "expected"), [
    ("{% if level == 'red' %}停止作业{% endif %}", "holds {% %} logic"),
    ("{{ issuer | upper }}发布", "is not a plain variable"),
    ("{{ params.day }}是防灾减灾日", "is not a plain variable"),
    ("{{ issuer }}{{ issued_spoken }}发布", "two variables stand next to each other"),
    ("{{ issuer }} {{ issued_spoken }}发布", "two variables stand next to each other"),
])
def test_source_rules_keep_scripts_registrable(source: str, expected: str) -> None:
    assert any(expected in m for m in source_problems(source))


def test_plain_variables_separated_by_words_are_fine() -> None:
    assert source_problems("{{ issuer }}于{{ issued_spoken }}发布，范围是{{ areas_spoken }}。") == []


def test_length_bounds() -> None:
    assert any("at most 180" in m for m in text_problems("暴" * (VOICE_MAX_CHARS + 1) + "再说一遍"))
    assert any("under 120" in m for m in text_problems("暴雨预警。再说一遍：远离河道。"))
    assert not any("characters" in m for m in text_problems("暴" * (VOICE_MIN_CHARS - 4) + "再说一遍"))
    assert spoken_length("暴雨 预警。\n再说") == 7  # whitespace is not read; pauses count


def test_every_shipped_script_reads_in_30_to_45_seconds(library: Library) -> None:
    hazards = default_hazards()
    lengths = {}
    for t in (t for t in library.templates if t.channel == "voice"):
        bodies = [render(t, c) for c in worst_contexts(t, hazards[t.hazard], WORST_AREA, WORST_ISSUER)]
        lengths[t.id] = max(spoken_length(b) for b in bodies)
        assert all(text_problems(b) == [] for b in bodies), t.id
    assert len(lengths) >= 77
    assert VOICE_MIN_CHARS <= min(lengths.values()) and max(lengths.values()) <= VOICE_MAX_CHARS


def test_shipped_scripts_follow_the_science(library: Library) -> None:
    scripts = [t for t in library.templates if t.channel == "voice"]
    heating_season = {"haze", "sandstorm", "gale", "cold_wave", "blizzard", "co_poisoning"}
    for t in scripts:
        # Never announce a school closure: only the education bureau decides (issue 18).
        assert "停课" not in t.text, t.id
        if "学校" in t.text:
            assert "关注教育部门通知" in t.text, t.id
        # Closing up a coal-heated home without ventilation can kill (issue 18).
        closes_up = any(w in t.text for w in ("关好门窗", "关紧门窗", "关闭门窗", "待在室内", "留在室内"))
        if t.hazard in heating_season and closes_up:
            assert "通风" in t.text and "煤" in t.text, t.id
    # Flash floods and geological hazards: the action changes with the level (watch, move, evacuate).
    for hazard in ("flash_flood", "geological_hazard"):
        texts = {lv: library.find(hazard, lv, "residents", "voice", "warning")[0].text
                 for lv in ("blue", "yellow", "orange", "red")}
        assert texts["blue"] == texts["yellow"] and len({texts["yellow"], texts["orange"], texts["red"]}) == 3
        assert "转移准备" in texts["yellow"] and "现在就转移" in texts["orange"] and "立即撤离" in texts["red"]


def test_spoken_coverage_names_the_missing_script(library_copy: Path) -> None:
    (library_copy / "heat" / "red.residents.voice.yaml").unlink()
    (library_copy / "fraud_rumour" / "preparedness.elderly.voice.yaml").unlink()
    missing = coverage_problems(Library.load(library_copy), default_hazards())
    assert any(m.startswith("heat.red.residents.sms: no reviewed spoken version; expected heat/red.residents.voice.yaml")
               for m in missing), missing
    assert any(m.startswith("fraud_rumour.preparedness.elderly.sms: no reviewed spoken version") for m in missing)


def test_a_script_cut_by_other_levels_covers_what_it_can_and_names_the_rest(library_copy: Path) -> None:
    (library_copy / "flash_flood" / "red.residents.voice.yaml").unlink()
    missing = coverage_problems(Library.load(library_copy), default_hazards())
    # The level-free SMS names only the level it lacks; the red SMS (issue 18) lacks its own twin.
    assert sorted(m for m in missing if "flash_flood" in m) == [
        "flash_flood.any.residents.sms: no reviewed spoken version at level red; expected "
        "flash_flood/any.residents.voice.yaml (templates/README.md, Spoken versions)",
        "flash_flood.red.residents.sms: no reviewed spoken version; expected "
        "flash_flood/red.residents.voice.yaml (templates/README.md, Spoken versions)"]


def test_an_unreviewed_script_does_not_count(library_copy: Path) -> None:
    path = library_copy / "heat" / "red.residents.voice.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8")
    missing = coverage_problems(Library.load(library_copy), default_hazards())
    assert any(m.startswith("heat.red.residents.sms: no reviewed spoken version") for m in missing)
    library = Library.load(library_copy)
    record_review(library.get("heat.red.residents.voice"), "专家组（示例）", "应急局（示例）",
                  datetime(2026, 11, 29, 20, 0, tzinfo=TZ))
    assert coverage_problems(Library.load(library_copy), default_hazards()) == []
