"""A broken config stops start-up with one precise line per problem and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alerts.settings import ConfigError, load_settings


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _problems(config_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(config_dir, env={})
    return info.value.lines


def test_the_shipped_config_loads(config_dir: Path) -> None:
    settings = load_settings(config_dir, env={})
    assert settings.service.sms.signature == "【高平应急科普】"
    assert len(settings.areas.areas) == 16  # 3 街道, 9 镇, 4 乡 (DOMAIN.md §4)


def test_wrong_type_names_file_key_value_and_expectation(config_dir: Path) -> None:
    _edit(config_dir / "service.yaml", "max_segments: 2", "max_segments: two")
    [line] = _problems(config_dir)
    assert line.startswith(str(config_dir / "service.yaml") + ": sms.max_segments: 'two' — ")
    assert "integer" in line


def test_unknown_key_is_an_error_not_ignored(config_dir: Path) -> None:
    _edit(config_dir / "channels.yaml", "  burst: 100", "  burst: 100\n  brust: 5")
    [line] = _problems(config_dir)
    assert line == f"{config_dir / 'channels.yaml'}: sms.brust: unknown key — remove it or check its spelling"


def test_missing_file(config_dir: Path) -> None:
    (config_dir / "areas.yaml").unlink()
    [line] = _problems(config_dir)
    assert line == f"{config_dir / 'areas.yaml'}: missing file — expected it in the config directory"


def test_bad_yaml_names_line_and_column(config_dir: Path) -> None:
    _edit(config_dir / "feeds.yaml", "  - name: demo", "  - name: [demo")
    [line] = _problems(config_dir)
    assert line.startswith(f"{config_dir / 'feeds.yaml'}: line ")
    assert "not valid YAML" in line


def test_several_problems_are_all_reported(config_dir: Path) -> None:
    _edit(config_dir / "service.yaml", "port: 8080", "port: 99999")
    _edit(config_dir / "workflow.yaml", "four_eyes: true", "four_eyes: maybe")
    lines = _problems(config_dir)
    assert len(lines) == 2
    assert any("http.port: 99999" in x for x in lines)
    assert any("warning_policy.four_eyes: 'maybe'" in x for x in lines)


def test_invalid_test_audience_phone(config_dir: Path) -> None:
    _edit(config_dir / "workflow.yaml", "  phones: []", "  phones: ['12345']")
    [line] = _problems(config_dir)
    assert "test_audience.phones[0]: '12345'" in line


@pytest.mark.parametrize("command", [["check"], ["serve", "--port", "0"], ["db", "upgrade"]])
def test_cli_reports_config_errors_without_a_traceback(config_dir: Path, command: list[str]) -> None:
    _edit(config_dir / "service.yaml", "max_segments: 2", "max_segments: two")
    proc = subprocess.run([sys.executable, "-m", "alerts", *command, "--config", str(config_dir)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: {config_dir / 'service.yaml'}: sms.max_segments: 'two' — input should be a valid integer, "
        "unable to parse string as an integer"
    ]


def test_cli_check_passes_on_the_shipped_config(config_dir: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "alerts", "check", "--config", str(config_dir)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok:")


def test_help_lists_only_working_commands() -> None:
    proc = subprocess.run([sys.executable, "-m", "alerts", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    listed = {line.split()[0] for line in proc.stdout.split("Commands:")[1].strip().splitlines() if line.strip()}
    from alerts.cli import cli

    assert listed == set(cli.commands)


def test_relative_sqlite_path_in_service_yaml_is_relative_to_the_config_folder(config_dir: Path) -> None:
    _edit(config_dir / "service.yaml", f"database_url: sqlite:///{config_dir.parent / 'var' / 'alerts.db'}",
          "database_url: sqlite:///../var/alerts.db")
    settings = load_settings(config_dir, env={})
    assert settings.database_url == f"sqlite:///{(config_dir.parent / 'var' / 'alerts.db').resolve()}"
    # The environment variable is taken as given (relative to where the command runs).
    assert load_settings(config_dir, env={"ALERTS_DATABASE_URL": "sqlite:///x.db"}).database_url == "sqlite:///x.db"
