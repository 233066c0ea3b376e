"""The shipped Gaoping calendar, `alerts campaigns list`, and campaigns.yaml validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from alerts.areas import Areas
from alerts.campaigns import calendar
from alerts.cli import cli
from alerts.content.library import Library
from alerts.settings import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def list_2027(config_dir: Path) -> list[dict]:
    result = CliRunner().invoke(cli, ["campaigns", "list", "--from", "2027-01-01", "--to", "2027-12-31", "--json",
                                      "--config", str(config_dir)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def at_of(items: list[dict], campaign: str) -> list[str]:
    return [i["at"] for i in items if i["campaign"] == campaign]


def test_campaigns_list_json_pins_the_shipped_2027_calendar(config_dir: Path) -> None:
    items = list_2027(config_dir)
    assert all({"campaign", "name", "at", "rule"} <= set(i) for i in items)
    assert at_of(items, "meteorology_day") == ["2027-03-23T10:00:00+08:00"]
    assert at_of(items, "disaster_prevention_day") == ["2027-05-12T10:00:00+08:00"]
    assert at_of(items, "disaster_prevention_week") == ["2027-05-10T10:00:00+08:00"]  # the week containing 12 May
    assert at_of(items, "science_week") == ["2027-05-24T10:00:00+08:00"]
    assert at_of(items, "work_safety_month") == ["2027-06-01T10:00:00+08:00", "2027-06-15T10:00:00+08:00"]
    flood = at_of(items, "flood_season")
    # Every other Tuesday from 1 June into Shanxi's autumn rains (15 October).
    assert flood[0] == "2027-06-01T10:00:00+08:00" and flood[-1] == "2027-10-05T10:00:00+08:00" and len(flood) == 10
    heat = at_of(items, "heat_season")
    assert heat[0] == "2027-06-03T10:00:00+08:00" and heat[-1] == "2027-08-26T10:00:00+08:00"
    assert at_of(items, "science_month") == ["2027-09-01T10:00:00+08:00"]
    assert at_of(items, "cyber_security_week") == ["2027-09-13T10:00:00+08:00"]
    assert at_of(items, "fire_safety_month") == ["2027-11-01T10:00:00+08:00"]
    assert at_of(items, "fire_safety_day") == ["2027-11-09T10:00:00+08:00"]
    co = at_of(items, "heating_season_co")
    # Every other Friday from 1 October, when coal stoves are lit, to 15 March.
    assert co[0] == "2027-01-08T10:00:00+08:00" and "2027-03-05T10:00:00+08:00" in co
    assert not any("2027-04" <= a < "2027-10" for a in co)
    assert co[-1] == "2027-12-24T10:00:00+08:00" and len(co) == 12
    assert at_of(items, "cold_wave_season") == ["2027-01-01T10:00:00+08:00", "2027-02-01T10:00:00+08:00",
                                                "2027-11-01T10:00:00+08:00", "2027-12-01T10:00:00+08:00"]
    assert at_of(items, "heat_spell") == []  # on demand only
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
    names = {i["campaign"]: i["name"] for i in items}
    assert names["meteorology_day"] == "世界气象日" and names["fire_safety_day"] == "119消防日"


def test_campaigns_list_text_shows_each_rule_and_refuses_a_bad_window(config_dir: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["campaigns", "list", "--from", "2027-05-01", "--to", "2027-05-31",
                              "--config", str(config_dir)])
    assert out.exit_code == 0
    assert "2027-05-12 10:00" in out.stdout and "fixed_date: every year on 05-12 at 10:00" in out.stdout
    bad = runner.invoke(cli, ["campaigns", "list", "--from", "2027-05-31", "--to", "2027-05-01",
                              "--config", str(config_dir)])
    assert bad.exit_code == 2 and "--to 2027-05-01 is before --from 2027-05-31" in bad.output
    bad = runner.invoke(cli, ["campaigns", "list", "--from", "31/05/2027", "--config", str(config_dir)])
    assert bad.exit_code == 2 and "expected a date such as 2027-01-01" in bad.output


def _edit(config_dir: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = config_dir / "campaigns.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["campaigns"][0].update(areas=["火星镇"]), "campaigns[0] (meteorology_day).areas[0]: '火星镇' — not a township"),
    (lambda d: d["campaigns"][0].update(templates=["nope.seasonal.residents.sms"]), "template 'nope.seasonal.residents.sms' is not in the library"),
    (lambda d: d["campaigns"][0]["rule"].update(day=31, month=4), "month 4 has no day 31"),
    (lambda d: d["campaigns"][0].update(colour="red"), "campaigns[0].colour: unknown key"),
    (lambda d: d["campaigns"].append(dict(d["campaigns"][0])), "used twice"),
    (lambda d: d["campaigns"][0].update(templates=["heat.orange.residents.sms"]), "campaigns use seasonal, preparedness or recovery"),
])
def test_a_bad_campaigns_yaml_names_file_key_and_value(config_dir: Path, change, expected: str) -> None:  # type: ignore[no-untyped-def]
    _edit(config_dir, change)
    settings = load_settings(config_dir)
    with pytest.raises(ConfigError) as err:
        calendar.load(settings, Areas(settings.areas), Library.load(settings.templates_dir))
    assert any(expected in line and "campaigns.yaml" in line for line in err.value.lines), err.value.lines
    result = CliRunner().invoke(cli, ["campaigns", "check", "--config", str(config_dir)])
    assert result.exit_code == 2 and expected in result.output


def test_shipped_calendar_is_valid_and_every_campaign_has_its_reviewed_texts(config_dir: Path) -> None:
    settings = load_settings(config_dir)
    cal = calendar.load(settings, Areas(settings.areas), Library.load(settings.templates_dir))
    for c in cal.campaigns:
        templates, missing = cal.templates_for(c)
        assert templates and not missing, c.id
        assert all(t.status == "reviewed" and t.stage in ("seasonal", "preparedness", "recovery") for t in templates)
    assert cal.warnings == []
    science_week = next(c for c in cal.campaigns if c.id == "science_week")
    assert "科技活动周" in cal.templates_for(science_week)[0][0].text


def test_problems_for_alerts_check_are_empty_for_the_shipped_file_and_name_a_bad_one(config_dir: Path) -> None:
    assert calendar.problems(load_settings(config_dir)) == []
    _edit(config_dir, lambda d: d["campaigns"][1].update(audiences=["aliens"]))
    [line] = calendar.problems(load_settings(config_dir))
    assert "campaigns[1] (disaster_prevention_day).audiences[0]: 'aliens'" in line
