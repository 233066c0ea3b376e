"""Lint: what stops a library from shipping, each case on a private copy of the real library."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.content.__main__ import main
from alerts.content.library import Library
from alerts.content.lint import Problem, lint
from alerts.content.sms import SmsRules
from alerts.model import Alert, Info, Level

SMS = """id: {id}
hazard: {hazard}
levels: [{levels}]
audience: residents
channel: sms
language: zh-CN
stage: {stage}
version: 1
title: 测试
text: |-
  {text}
"""


def add(root: Path, text: str, *, id: str = "heat.extra.residents.sms", hazard: str = "heat",
        levels: str = "", stage: str = "warning", folder: str | None = None) -> None:
    path = root / (folder or hazard) / f"{id}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(SMS.format(id=id, hazard=hazard, levels=levels, stage=stage, text=text), encoding="utf-8")


def codes(problems: list[Problem], template_id: str) -> set[str]:
    return {p.code for p in problems if p.template_id == template_id}


def test_shipped_library_is_clean(library: Library) -> None:
    assert [str(p) for p in lint(library)] == []


def test_unreviewed_template_is_reported(library_copy: Path) -> None:
    add(library_copy, "{{ issuer }}{{ issued }}发布高温预警信号（{{ areas }}）。请多喝水。")
    problems = lint(Library.load(library_copy))
    assert codes(problems, "heat.extra.residents.sms") == {"review"}


def test_self_issued_warning_and_missing_source_are_reported(library_copy: Path) -> None:
    add(library_copy, "现发布高温预警，请多喝水。", id="heat.self.residents.sms")
    add(library_copy, "天热，请多喝水。", id="heat.nosource.residents.sms")
    problems = lint(Library.load(library_copy), coverage=False)
    assert any("现发布" in p.message for p in problems if p.template_id == "heat.self.residents.sms")
    assert any("does not name its source" in p.message for p in problems if p.template_id == "heat.nosource.residents.sms")


def test_sms_that_quotes_free_alert_text_can_never_render(library_copy: Path) -> None:
    # Outside free text never reaches a resident's phone: SMS contexts do not even hold it.
    add(library_copy, "{{ issuer }}{{ issued }}：{{ description }}")
    problems = [p for p in lint(Library.load(library_copy), coverage=False) if p.template_id == "heat.extra.residents.sms"]
    assert [p.code for p in problems if p.code != "review"] == ["render"] and "description" in problems[-1].message


def test_a_warning_sms_without_the_issue_time_is_reported(library_copy: Path) -> None:
    add(library_copy, "{{ issuer }}发布高温预警信号（{{ areas }}）。请多喝水。", id="heat.notime.residents.sms")
    problems = lint(Library.load(library_copy), coverage=False)
    assert any("{{ issued }}" in p.message for p in problems if p.template_id == "heat.notime.residents.sms")


def test_sms_length_is_checked_at_the_worst_case_to_the_character(library_copy: Path) -> None:
    # Signature 8 + issuer 6 + issue time 9 (31日23时59分) + 发布 2 + （area 20） 22 + 87 = 134: fits
    # exactly; one more does not.
    add(library_copy, "{{ issuer }}{{ issued }}发布（{{ areas }}）" + "热" * 87, id="heat.exact.residents.sms")
    add(library_copy, "{{ issuer }}{{ issued }}发布（{{ areas }}）" + "热" * 88, id="heat.over.residents.sms")
    problems = [p for p in lint(Library.load(library_copy), coverage=False) if p.code == "sms"]
    assert {p.template_id for p in problems} == {"heat.over.residents.sms"}
    assert "135 characters" in problems[0].message and "cut 1" in problems[0].message
    assert [p for p in lint(Library.load(library_copy), SmsRules(max_segments=3), coverage=False) if p.code == "sms"] == []


def test_syntax_error_missing_variable_wrong_folder_and_impossible_level(library_copy: Path) -> None:
    add(library_copy, "{{ issuer }}发布{% if %}", id="heat.syntax.residents.sms")
    add(library_copy, "{{ issuer }}发布{{ hotline }}", id="heat.undefined.residents.sms")
    add(library_copy, "{{ issuer }}发布干旱预警信号。", id="drought.blue.residents.sms", hazard="drought",
        levels="blue", folder="heat")
    problems = lint(Library.load(library_copy), coverage=False)
    assert "syntax" in codes(problems, "heat.syntax.residents.sms")
    assert any("hotline" in p.message for p in problems if p.code == "render")
    assert {"location", "level"} <= codes(problems, "drought.blue.residents.sms")


def test_missing_coverage_is_reported(library_copy: Path) -> None:
    (library_copy / "hail" / "orange-red.residents.sms.yaml").unlink()
    problems = [str(p) for p in lint(Library.load(library_copy)) if p.code == "coverage"]
    assert problems == ["library: [coverage]: hail orange: no reviewed residents SMS for the warning",
                        "library: [coverage]: hail red: no reviewed residents SMS for the warning"]


def test_load_problems_come_through_lint_in_non_strict_mode(library_copy: Path) -> None:
    (library_copy / "heat" / "broken.yaml").write_text("id: [", encoding="utf-8")
    problems = lint(Library.load(library_copy, strict=False), coverage=False)
    assert [p.code for p in problems] == ["load"] and "broken.yaml" in problems[0].path


def test_sample_alerts_render_the_sms_they_would_select(library: Library) -> None:
    sent = datetime(2025, 7, 20, 3, 0, tzinfo=UTC)
    samples = [
        Alert(identifier=f"s-{hazard}-{level}", sender="x", sent=sent, msg_type=msg_type, infos=[
            Info(language="zh-CN", sender_name="高平市气象台", hazard=hazard, level=Level(level),
                 description="长" * 500, expires=sent)])
        for hazard, level, msg_type in [("rainstorm", "red", "Alert"), ("heat", "orange", "Alert"),
                                        ("lightning", "yellow", "Cancel")]
    ]
    assert lint(library, sample_alerts=samples, coverage=False) == []


@pytest.mark.parametrize("command", ["lint", "status"])
def test_command_line_reads_the_library(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.content.conftest import TEMPLATES

    assert main([command, str(TEMPLATES)]) == 0
    out = capsys.readouterr()
    assert ("0 problems" in out.err) if command == "lint" else ("reviewed" in out.out)
