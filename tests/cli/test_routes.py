"""`alerts routes test`: matched routes with reasons and the drafts an alert file would create."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from alerts.cli import cli

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"
GBT = DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml"


def routes_test(config_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["routes", "test", *args, "--config", str(config_dir)])
    return result.exit_code, result.stdout, result.stderr


def test_json_has_routes_and_drafts_with_the_keys_scripts_use(config_dir: Path) -> None:
    code, out, _ = routes_test(config_dir, "--json", str(GBT))
    assert code == 0
    doc = json.loads(out)
    assert [r["route"] for r in doc["routes"]] == ["(defaults)", "warnings", "warnings.mine_duty", "warnings.severe"]
    assert "level orange ≥ orange" in doc["routes"][3]["why"]
    assert "hazard rainstorm" in doc["routes"][2]["why"][0]  # mine_duty: enterprises hear of rain at every level
    assert "status Actual" in doc["routes"][0]["why"]
    assert all({"route", "template", "audience", "channel", "areas"} <= set(d) for d in doc["drafts"])
    assert {(d["audience"], d["channel"]) for d in doc["drafts"]} == {
        ("residents", "sms"), ("residents", "voice"), ("schools", "notice"), ("enterprises", "notice"),
        ("villages", "notice"), ("villages", "im"), ("families", "im"), ("volunteers", "im")}  # 五进: texts for both


def test_templates_named_are_the_ids_render_takes(config_dir: Path) -> None:
    _, out, _ = routes_test(config_dir, "--json", str(GBT))
    for draft in json.loads(out)["drafts"]:
        result = CliRunner().invoke(cli, ["render", draft["template"], "--alert", str(GBT), "--json",
                                          "--config", str(config_dir)])
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["characters"] > 0


def test_text_output_says_which_route_matched_and_why(config_dir: Path) -> None:
    code, out, _ = routes_test(config_dir, str(GBT))
    assert code == 0
    assert "matched warnings.severe: level orange ≥ orange" in out
    assert "draft rainstorm.orange.residents.sms → residents by sms" in out


def test_an_alert_outside_our_areas_matches_nothing(config_dir: Path) -> None:
    code, out, _ = routes_test(config_dir, str(DATA / "cma-baoding-thunder-yellow-update.xml"))
    assert code == 0 and "no route matched" in out
    _, out, _ = routes_test(config_dir, "--json", str(DATA / "cma-baoding-thunder-yellow-update.xml"))
    assert json.loads(out)["drafts"] == []


def test_a_rejected_file_is_named_with_its_reason(config_dir: Path) -> None:
    code, out, err = routes_test(config_dir, str(DATA / "google-xee.cap"))
    assert code == 1 and f"{DATA / 'google-xee.cap'}: rejected: " in err and "Traceback" not in err
