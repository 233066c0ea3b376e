"""config/workflow.yaml: natural default roles, and typos caught at start-up with file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.settings import ConfigError, load_settings


def _problems(config_dir: Path, old: str, new: str) -> list[str]:
    path = config_dir / "workflow.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, env={})
    return info.value.lines


def test_the_shipped_roles_match_the_departments(config_dir: Path) -> None:
    roles = load_settings(config_dir, env={}).workflow.roles
    assert "approve" in roles["approver"] and "approve" not in roles["admin"]
    assert "approve" not in roles["campaigner"] and "trigger_campaign" in roles["campaigner"]
    assert roles["observer"] == ["view", "view_audit"]
    assert "review_content" in roles["expert"] and "edit" in roles["editor"]


def test_a_misspelt_permission_is_named(config_dir: Path) -> None:
    [line] = _problems(config_dir, "approver: [view, approve, reject, lookup_phone]",
                       "approver: [view, aprove, reject, lookup_phone]")
    assert "workflow.yaml" in line and "roles.approver" in line and "'aprove'" in line


def test_an_unknown_escalation_level_is_named(config_dir: Path) -> None:
    [line] = _problems(config_dir, "    red: [{after_minutes: 0", "    crimson: [{after_minutes: 0")
    assert "escalation.steps" in line and "crimson" in line and "default, blue, yellow, orange, red" in line


def test_an_unknown_duty_list_is_named(config_dir: Path) -> None:
    [line] = _problems(config_dir, "{after_minutes: 15, notify: backup}", "{after_minutes: 15, notify: deputy}")
    assert "notify" in line and "deputy" in line and "primary" in line
