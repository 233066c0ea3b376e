"""Registered templates: `alerts check` finds unregistered, changed and unsafe ones; the export to register."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.channels.sms.templates import Registered, value_problems
from alerts.checks import run_checks
from alerts.cli import cli
from alerts.settings import load_settings
from tests.channels.sms_support import PARAMS, TEMPLATE, registry


def edit_registry(config_dir: Path, old: str, new: str) -> None:
    path = config_dir / "sms_providers.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(config_dir: Path) -> list[str]:
    return run_checks(load_settings(config_dir))


def test_the_shipped_example_registry_passes(config_dir: Path) -> None:
    assert problems_of(config_dir) == []


def test_a_reviewed_sms_template_without_a_code_is_an_error_saying_what_to_register(config_dir: Path) -> None:
    edit_registry(config_dir, f"    {TEMPLATE}:\n      code: \"SMS_", "    gone:\n      code: \"SMS_")
    found = [p for p in problems_of(config_dir) if f"aliyun.templates.{TEMPLATE}" in p]
    assert len(found) == 1 and "missing — register this wording" in found[0]
    assert "${event}${level_name}预警（${areas}）：" in found[0] and "${issuer}于${issued}发布" in found[0]
    assert any("aliyun.templates.gone: not a template of the library" in p for p in problems_of(config_dir))


def test_registered_wording_that_differs_from_the_reviewed_text_is_an_error(config_dir: Path) -> None:
    edit_registry(config_dir, "远离河道、山体和电线杆", "远离所有的学校")
    found = [p for p in problems_of(config_dir) if "the registered wording differs" in p]
    assert len(found) == 1 and f"aliyun.templates.{TEMPLATE}" in found[0] and "所有的学校" in found[0]


def test_tencent_variables_must_be_the_templates_own(config_dir: Path) -> None:
    edit_registry(config_dir, "variables: [event, level_name, areas, issuer, issued, in_force]", "variables: [issuer, event, areas]")
    assert any("tencent.templates." in p and ".variables:" in p for p in problems_of(config_dir))


def test_a_variable_that_can_exceed_the_providers_limit_is_an_error(config_dir: Path) -> None:
    # Tencent's standard limit is 6 to 12 characters per variable: a 20-character area phrase does not fit.
    edit_registry(config_dir, "variable_max_chars: 20", "variable_max_chars: 12")
    found = [p for p in problems_of(config_dir) if "variable areas is 20 characters" in p]
    assert found and all("tencent allows at most 12" in p for p in found)


def test_a_code_without_its_wording_is_an_error(config_dir: Path) -> None:
    path = config_dir / "sms_providers.yaml"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(rf'    {re.escape(TEMPLATE)}:\n      code: "(SMS_\d+)"\n      text: .*\n')
    path.write_text(pattern.sub(lambda m: f'    {TEMPLATE}: "{m.group(1)}"\n', text, count=1), encoding="utf-8")
    found = [p for p in problems_of(config_dir) if f"aliyun.templates.{TEMPLATE}" in p]
    assert len(found) == 1 and "names a code but not the registered wording" in found[0]


def test_a_selected_provider_missing_from_the_file_is_an_error(config_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_dir / "sms_providers.yaml"
    path.write_text(path.read_text(encoding="utf-8").split("\ntencent:")[0] + "\n", encoding="utf-8")
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", "aliyun,tencent")
    found = problems_of(config_dir)
    assert any("sms_providers.yaml: tencent: missing" in p for p in found)


def test_variable_values_providers_refuse() -> None:
    account = registry().accounts["aliyun"]
    assert value_problems(account, "areas", "高平市") == []
    assert "at most 35" in value_problems(account, "issuer", "长" * 36)[0]
    assert "【】" in value_problems(account, "issuer", "【高平】")[0]
    assert "web address" in value_problems(account, "issuer", "见 www.gov.cn")[0]
    assert "phone number" in value_problems(account, "issuer", "请拨打03565221234")[0]


def test_an_edited_text_is_read_back_into_the_variables_or_refused() -> None:
    registered = registry().get("tencent", TEMPLATE)
    assert isinstance(registered, Registered)
    text = registered.fill(PARAMS)
    # 暴雨橙色 is two slots side by side: the values as drafted settle where one ends.
    assert registered.parse(text, prefer=PARAMS) == PARAMS
    assert registered.parse(text.replace("（高平市）", "（高平市北部）"), prefer=PARAMS) == {**PARAMS, "areas": "高平市北部"}
    assert registered.parse(text.replace("暴雨橙色", "暴雨红色"), prefer=PARAMS) == {**PARAMS, "level_name": "红色"}
    assert registered.parse(text + "请转告。", prefer=PARAMS) is None


def test_export_writes_the_wording_to_register_as_csv() -> None:
    result = CliRunner().invoke(cli, ["sms", "export-templates", "--provider", "tencent",
                                      "--config", str(Path(__file__).resolve().parents[2] / "config")])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0][:3] == ["短信类型", "模板名称", "模板内容"]
    mine = next(r for r in rows if r[-1] == TEMPLATE)
    assert mine[2].startswith("{1}{2}预警（{3}）：") and "{4}于{5}发布，{6}。" in mine[2] and "【" not in mine[2]
    account = registry().accounts["tencent"]
    assert len(rows) - 1 == len(account.templates) + len(account.events), "the events' skeletons are exported too"


def test_export_as_yaml_gives_entries_for_sms_providers_yaml() -> None:
    import yaml

    result = CliRunner().invoke(cli, ["sms", "export-templates", "--provider", "aliyun", "--format", "yaml",
                                      "--config", str(Path(__file__).resolve().parents[2] / "config")])
    assert result.exit_code == 0, result.output
    exported = yaml.safe_load(result.stdout)["aliyun"]["templates"][TEMPLATE]
    registered = registry().get("aliyun", TEMPLATE)
    assert registered is not None and exported == {"code": "TODO", "text": registered.text}
