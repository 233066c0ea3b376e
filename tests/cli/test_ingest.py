"""`alerts ingest`: offline parsing of CAP files and feeds, JSON output, rejections and dry runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from alerts.cli import cli

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "cap"
GBT = DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml"
CANCEL = DATA / "constructed-gaoping-rainstorm-orange-cancel.cap12.xml"


def ingest(*args: str, config: Path | None = None) -> tuple[int, list[dict], str, str]:
    extra = ["--config", str(config)] if config else ["--config", str(ROOT / "config")]
    result = CliRunner().invoke(cli, ["ingest", *args, *extra])
    objects = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, objects, result.stdout, result.stderr


def test_json_has_every_field_the_issue_names() -> None:
    code, [doc], _, _ = ingest("--json", str(GBT))
    assert code == 0
    assert doc["identifier"] == "14058141600000_20260712053000"
    assert doc["sender"] == "高平市气象台"
    assert doc["sent"] == "2026-07-12T05:30:00+08:00"
    assert doc["status"] == "Actual" and doc["msg_type"] == "Alert" and doc["references"] == []
    [info] = doc["infos"]
    assert info["language"] == "zh-CN" and info["hazard"] == "rainstorm" and info["level"] == "orange"
    assert info["severity"] == "Orange" and info["urgency"] == "Immediate" and info["certainty"] == "Likely"
    assert info["onset"] == "2026-07-12T05:30:00+08:00" and info["expires"] == "2026-07-12T17:30:00+08:00"
    assert "暴雨橙色预警" in info["headline"]
    assert set(info) >= {"event"}
    [area] = info["areas"]
    assert area == {"desc": "米山镇、三甲镇、神农镇", "geocodes": ["140581101000", "140581102000", "140581103000"],
                    "polygons": 1, "circles": 0}


def test_references_are_a_list_of_identifiers() -> None:
    code, [doc], _, _ = ingest("--json", str(CANCEL))
    assert code == 0 and doc["msg_type"] == "Cancel"
    assert doc["references"] == ["14058141600000_20260712053000"]


def test_several_files_give_one_object_each_and_a_rejection_sets_exit_1() -> None:
    code, docs, _, err = ingest("--json", str(GBT), str(DATA / "google-xee.cap"), str(CANCEL),
                                str(DATA / "google-invalid.cap"))
    assert code == 1
    assert [d["msg_type"] for d in docs] == ["Alert", "Cancel"]
    lines = err.splitlines()
    assert any(line.startswith(f"{DATA / 'google-xee.cap'}: rejected: ") and "DOCTYPE" in line for line in lines)
    assert any(line.startswith(f"{DATA / 'google-invalid.cap'}: rejected: ") and "<scope>" in line for line in lines)
    assert "Traceback" not in err


def test_a_missing_file_and_a_bad_feed_are_rejected_without_traceback(tmp_path: Path) -> None:
    code, docs, _, err = ingest(str(tmp_path / "nope.xml"), str(DATA / "google-invalid.rss"))
    assert code == 1 and docs == []
    assert f"{tmp_path / 'nope.xml'}: rejected: cannot read the file" in err
    assert f"{DATA / 'google-invalid.rss'}: rejected: " in err and "title" in err


def test_the_real_command_never_prints_a_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.cap"
    garbage.write_bytes(b"\xff\xfe<al\x00ert>")
    proc = subprocess.run([sys.executable, "-m", "alerts", "ingest", "--json", str(garbage)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"{garbage}: rejected: ") and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_a_feed_with_embedded_cap_gives_its_alerts() -> None:
    code, docs, _, _ = ingest("--json", str(DATA / "google-amber.atom"))
    assert code == 0 and len(docs) >= 1
    assert all(d["path"].startswith(f"{DATA / 'google-amber.atom'}#") for d in docs)


def test_linked_cap_documents_are_not_fetched_and_the_output_says_so() -> None:
    code, docs, out, err = ingest("--json", str(DATA / "google-earthquake_index.atom"))
    assert code == 0 and docs == []
    assert "not fetched" in err and "http://earthquake.usgs.gov/" in err
    code, _, out, _ = ingest(str(DATA / "google-earthquake_index.atom"))
    assert "not fetched" in out


def test_dry_run_shows_the_drafts_routing_would_create(config_dir: Path) -> None:
    code, [doc], _, _ = ingest("--json", "--dry-run", str(GBT), config=config_dir)
    assert code == 0
    assert [r["route"] for r in doc["routes"]] == ["(defaults)", "warnings", "warnings.mine_duty", "warnings.severe"]
    by_audience = {d["audience"]: d for d in doc["drafts"]
                   if d["channel"] not in ("im", "voice") and d.get("language") != "en"}
    assert any(d["channel"] == "voice" and d["template"] == "rainstorm.orange.residents.voice" for d in doc["drafts"])
    assert set(by_audience) == {"residents", "schools", "enterprises", "villages"}
    assert by_audience["residents"]["template"] == "rainstorm.orange.residents.sms"
    assert by_audience["residents"]["channel"] == "sms"
    assert by_audience["schools"]["areas"] == ["140581101", "140581102", "140581103"]
    # Without --json the same plan is shown in words, and nothing is stored (no database needed).
    code, _, out, _ = ingest("--dry-run", str(CANCEL), config=config_dir)
    assert code == 0 and "route ended" in out and "rainstorm.all_clear.residents.sms" in out
    assert not (config_dir.parent / "var" / "alerts.db").exists()


def test_a_directory_stands_for_its_alert_and_feed_files(tmp_path: Path) -> None:
    import shutil

    shutil.copy(GBT, tmp_path / "a.xml")
    shutil.copy(CANCEL, tmp_path / "b.cap")
    (tmp_path / "readme.txt").write_text("not an alert")
    code, docs, _, _ = ingest("--json", str(tmp_path))
    assert code == 0 and [d["msg_type"] for d in docs] == ["Alert", "Cancel"]
