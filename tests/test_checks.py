"""`alerts check`: passes on the shipped config and fails precisely on each case in tests/data/invalid-config/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.checks import route_problems
from alerts.cli import cli
from alerts.settings.routes import RoutesConfig

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "invalid-config"


def check(config_dir: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["check", "--config", str(config_dir)])
    return result.exit_code, result.stdout + result.stderr


def apply_case(case: Path, config_dir: Path, tmp_path: Path) -> None:
    """Overlay the case's files on the private config copy (and on a copy of the library)."""
    for path in case.rglob("*"):
        if not path.is_file() or path.name == "expected.txt":
            continue
        relative = path.relative_to(case)
        if relative.parts[0] == "templates":
            library = tmp_path / "templates"
            if not library.exists():
                shutil.copytree(ROOT / "templates", library)
                service = config_dir / "service.yaml"
                service.write_text(service.read_text(encoding="utf-8").replace(str(ROOT / "templates"), str(library)),
                                   encoding="utf-8")
            shutil.copy(path, library / Path(*relative.parts[1:]))
        else:
            shutil.copy(path, config_dir / relative)


def test_the_shipped_configuration_passes(config_dir: Path) -> None:
    code, out = check(config_dir)
    assert code == 0, out
    assert out.startswith("ok: ")


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_each_broken_case_fails_naming_its_problem(case: str, config_dir: Path, tmp_path: Path) -> None:
    apply_case(CASES / case, config_dir, tmp_path)
    code, out = check(config_dir)
    assert code != 0, f"{case}: alerts check passed:\n{out}"
    assert "Traceback" not in out
    for expected in (CASES / case / "expected.txt").read_text(encoding="utf-8").splitlines():
        assert expected in out, f"{case}: expected {expected!r} in:\n{out}"
    # Precise: every line is an error about the broken file, not noise from elsewhere.
    lines = [line for line in out.splitlines() if line.startswith("error: ")]
    assert lines and len(lines) <= 40, out


def test_every_case_is_documented() -> None:
    readme = (CASES / "README.md").read_text(encoding="utf-8")
    for case in CASES.iterdir():
        if case.is_dir():
            assert f"`{case.name}`" in readme
            assert (case / "expected.txt").is_file()


def test_route_problems_name_the_key_path_of_each_bad_value(tmp_path: Path) -> None:
    routes = RoutesConfig.model_validate({"routes": [
        {"name": "a", "match": {"months": [13]}, "yields": [{"audience": "residents", "channel": "email"}]},
        {"name": "a"},
    ]})
    problems = route_problems(routes.routes, tmp_path / "routes.yaml", hazards={"rainstorm"}, templates=set(),
                              audiences={"residents"}, channels={"sms", "notice"})
    assert any("routes[0].match.months[0]: 13 — expected a month 1..12" in p for p in problems)
    assert any("routes[0].yields[0].channel: 'email' — the template library has no email texts" in p for p in problems)
    assert any("route name 'a' is used twice" in p for p in problems)


def test_a_missing_stage_text_is_a_check_error_not_a_fallback_to_the_warning(config_dir: Path, tmp_path: Path) -> None:
    library = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", library)
    (library / "heat" / "lower.residents.sms.yaml").unlink()
    service = config_dir / "service.yaml"
    service.write_text(service.read_text(encoding="utf-8").replace(str(ROOT / "templates"), str(library)),
                       encoding="utf-8")
    code, out = check(config_dir)
    assert code != 0
    lines = [line for line in out.splitlines() if "no lower template" in line]
    assert lines and "audience=residents channel=sms" in lines[0] and "heat yellow" in lines[0]
    assert "heat red" not in lines[0], "nothing is lowered to a hazard's highest level"


def test_a_bad_chains_file_is_named_with_its_key(config_dir: Path) -> None:
    (config_dir / "chains.yaml").write_text("combine: {window_seconds: -1}\nofices: []\n", encoding="utf-8")
    code, out = check(config_dir)
    assert code != 0 and "chains.yaml" in out and "window_seconds" in out and "ofices" in out


def test_production_mode_refuses_the_shipped_example_reviews(config_dir: Path) -> None:
    # The shipped reviews are placeholders marked （示例）: fine for a demo, never for real warnings.
    result = CliRunner().invoke(cli, ["check", "--production", "--config", str(config_dir)])
    assert result.exit_code != 0
    out = result.stdout + result.stderr
    assert "rainstorm.orange.residents.sms" in out and "not a real review" in out
