"""Loading the template library: validation errors, lookup, hashes and recorded reviews."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.content.__main__ import main
from alerts.content.library import Library, LibraryError, record_review
from tests.content.conftest import INVALID

TZ = ZoneInfo("Asia/Shanghai")


def _problems(case: str) -> list[str]:
    with pytest.raises(LibraryError) as caught:
        Library.load(INVALID / case)
    lines = str(caught.value).splitlines()
    assert lines == caught.value.problems
    return lines


def test_shipped_library_loads_without_problems(library: Library) -> None:
    assert len(library.templates) > 100
    assert library.problems == []


def test_bad_yaml_names_file_and_line() -> None:
    [line] = _problems("bad_yaml")
    assert "broken.yaml" in line and "YAML syntax error at line" in line and "expected valid YAML" in line


def test_unknown_key_names_key_value_and_the_allowed_keys() -> None:
    [line] = _problems("unknown_key")
    assert "extra.yaml" in line and "'priority'" in line and "'high'" in line and "expected only id" in line


def test_wrong_types_are_each_reported() -> None:
    lines = _problems("wrong_type")
    assert len(lines) == 2
    levels, version = sorted(lines)
    assert "key 'levels': got 'blue'; expected a list" in levels
    assert "key 'version': got 'one'; expected a whole number" in version
    assert all("version.yaml" in line for line in lines)


def test_unknown_hazard_lists_what_is_expected() -> None:
    [line] = _problems("unknown_hazard")
    assert "meteor.yaml" in line and "key 'hazard': got 'meteor'" in line and "rainstorm" in line


def test_duplicate_id_names_both_files() -> None:
    [line] = _problems("duplicate_id")
    assert "b.yaml" in line and "already used by" in line and "a.yaml" in line
    assert "heat.yellow.residents.sms" in line


def test_missing_key_is_reported() -> None:
    [line] = _problems("missing_key")
    assert "no_text.yaml: key 'text' is missing" in line


def test_malformed_review_block_is_reported_per_field() -> None:
    lines = _problems("bad_review")
    assert any("review.at" in line and "'yesterday'" in line and "ISO 8601" in line for line in lines)
    assert any("review.hash" in line and "sha256" in line for line in lines)


def test_the_whole_invalid_folder_reports_every_case_at_once() -> None:
    with pytest.raises(LibraryError) as caught:
        Library.load(INVALID)
    text = str(caught.value)
    for name in ("broken.yaml", "extra.yaml", "version.yaml", "meteor.yaml", "b.yaml", "no_text.yaml", "review.yaml"):
        assert name in text


def test_non_strict_load_keeps_good_templates_and_lists_problems() -> None:
    library = Library.load(INVALID / "duplicate_id", strict=False)
    assert [t.id for t in library.templates] == ["heat.yellow.residents.sms"]
    assert len(library.problems) == 1


def test_find_matches_level_and_prefers_specific_templates(library: Library) -> None:
    found = library.find("rainstorm", "orange", "residents", "sms", "warning")
    assert [t.id for t in found] == ["rainstorm.orange.residents.sms"]
    schools = library.find("rainstorm", "orange", "schools", "notice", "warning")
    assert [t.id for t in schools] == ["rainstorm.warning.schools.notice"]  # levels [] matches any level
    assert library.find("rainstorm", "orange", "residents", "sms", "warning", language="en")[0].language == "en"
    assert library.find("drought", "blue", "residents", "sms", "warning") == []


def test_get_unknown_id_raises_key_error(library: Library) -> None:
    assert library.get("heat.red.residents.sms").levels == ("red",)
    with pytest.raises(KeyError, match="no template"):
        library.get("heat.purple.residents.sms")


def test_every_shipped_template_is_reviewed(library: Library) -> None:
    assert {t.id: t.status for t in library.templates if t.status != "reviewed"} == {}


def test_hash_ignores_review_and_level_order(library: Library) -> None:
    from dataclasses import replace

    template = library.get("rainstorm.orange-red.residents.sms.en")
    assert replace(template, review=None).content_hash() == template.content_hash()
    assert replace(template, levels=("red", "orange")).content_hash() == template.content_hash()
    assert replace(template, version=2).content_hash() != template.content_hash()


def test_editing_text_makes_a_reviewed_template_changed_and_a_review_restores_it(library_copy: Path) -> None:
    path = library_copy / "heat" / "red.residents.sms.yaml"
    before = Library.load(library_copy).get("heat.red.residents.sms")
    assert before.status == "reviewed"
    path.write_text(path.read_text(encoding="utf-8").replace("拨打120", "拨打120急救"), encoding="utf-8")
    edited = Library.load(library_copy).get("heat.red.residents.sms")
    assert edited.status == "changed"

    at = datetime(2025, 6, 1, 9, 30, tzinfo=TZ)
    stamped = record_review(edited, "专家甲", "应急局乙", at)
    assert stamped.status == "reviewed"
    reloaded = Library.load(library_copy).get("heat.red.residents.sms")
    assert reloaded.status == "reviewed"
    assert reloaded.review is not None and reloaded.review.reviewed_by == "专家甲" and reloaded.review.at == at
    # Only the review block was rewritten: the rest of the file is byte for byte what we wrote.
    head = path.read_text(encoding="utf-8").split("review:")[0]
    assert "拨打120急救" in head and head.startswith("id: heat.red.residents.sms\n")


def test_metadata_change_needs_review_too(library_copy: Path) -> None:
    path = library_copy / "heat" / "red.residents.sms.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("audience: residents", "audience: elderly"),
                    encoding="utf-8")
    assert Library.load(library_copy).get("heat.red.residents.sms").status == "changed"


def test_template_without_review_is_unreviewed_and_gets_a_block_appended(tmp_path: Path) -> None:
    source = (INVALID / "duplicate_id" / "a.yaml").read_text(encoding="utf-8")
    (tmp_path / "heat").mkdir()
    path = tmp_path / "heat" / "yellow.residents.sms.yaml"
    path.write_text(source, encoding="utf-8")
    template = Library.load(tmp_path).get("heat.yellow.residents.sms")
    assert template.status == "unreviewed"
    record_review(template, "专家甲", "应急局乙", datetime(2025, 6, 1, tzinfo=TZ))
    assert path.read_text(encoding="utf-8").startswith(source)
    assert Library.load(tmp_path).get("heat.yellow.residents.sms").status == "reviewed"


def test_record_review_refuses_a_file_edited_since_loading(library_copy: Path) -> None:
    template = Library.load(library_copy).get("heat.red.residents.sms")
    template.path.write_text(template.path.read_text(encoding="utf-8").replace("120", "110"), encoding="utf-8")
    with pytest.raises(LibraryError, match="changed since it was loaded"):
        record_review(template, "专家甲", "应急局乙", datetime(2025, 6, 1, tzinfo=TZ))


def test_record_review_needs_an_aware_time(library: Library) -> None:
    with pytest.raises(ValueError, match="offset"):
        record_review(library.templates[0], "a", "b", datetime(2025, 6, 1))


def test_stamp_command_stamps_only_named_templates(library_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("red.residents.sms.yaml", "orange.residents.sms.yaml"):
        path = library_copy / "heat" / name
        path.write_text(path.read_text(encoding="utf-8").replace("120", "120。"), encoding="utf-8")
    code = main(["stamp", str(library_copy), "heat.red.residents.sms", "--reviewed-by", "甲", "--approved-by", "乙",
                 "--at", "2025-06-01T09:00:00+08:00"])
    assert code == 0 and "stamped heat.red.residents.sms" in capsys.readouterr().out
    reloaded = Library.load(library_copy)
    assert reloaded.get("heat.red.residents.sms").status == "reviewed"
    assert reloaded.get("heat.orange.residents.sms").status == "changed"
