"""`alerts check` for the coordination mechanism: the shipped roster and tasks pass; a roster gap, a
warning level without tasks, an empty approver duty roster or an unreviewed skeleton fail, named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alerts.settings import ConfigError, load_settings
from tests.test_checks import check

ROOT = Path(__file__).resolve().parents[2]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_shipped_departments_rosters_and_tasks_pass(config_dir: Path) -> None:
    code, out = check(config_dir)
    assert code == 0, out


def test_a_department_without_a_night_shift_is_a_roster_gap(config_dir: Path) -> None:
    # 教育局's night officer is taken off the roster: from 20:00 to 08:00 nobody would get its tasks.
    _edit(config_dir / "departments.yaml", '''      - {contact: day, days: all, from: "08:00", to: "20:00"}
      - {contact: night, days: all, from: "20:00", to: "08:00"}
  wtj:''', '''      - {contact: day, days: all, from: "08:00", to: "20:00"}
  wtj:''')
    code, out = check(config_dir)
    assert code != 0
    [line] = [x for x in out.splitlines() if "departments.jyj.roster" in x]
    assert "mon 00:00-08:00" in line and "mon 20:00-24:00" in line and "24-hour roster" in line


def test_a_weekend_gap_and_a_contact_without_phone_are_gaps(config_dir: Path) -> None:
    _edit(config_dir / "departments.yaml", '''      - {key: night, name: 妇联夜班（示例）, phone: "+8613800000902"}''',
          '''      - {key: night, name: 妇联夜班（示例）}''')
    _edit(config_dir / "departments.yaml", '''      - {contact: night, days: all, from: "20:00", to: "08:00"}
  rmt:''', '''      - {contact: night, days: [mon, tue, wed, thu, fri], from: "20:00", to: "08:00"}
  rmt:''')
    code, out = check(config_dir)
    assert code != 0
    assert "departments.fl.roster: nobody with a phone is on duty mon 00:00-08:00" in out
    [line] = [x for x in out.splitlines() if "departments.qxj.roster" in x]
    # Friday's night shift runs into Saturday morning; Sunday's missing one leaves Monday morning bare.
    assert "mon 00:00-08:00, sat 20:00-24:00, sun 00:00-08:00, sun 20:00-24:00 —" in line and "sat 00:00" not in line


def test_a_warning_level_without_tasks_fails(config_dir: Path) -> None:
    _edit(config_dir / "departments.yaml", "    red: *core\n", "")
    code, out = check(config_dir)
    assert code != 0
    assert "tasks: no task for lightning red — add tasks under tasks.default.red or tasks.lightning.red" in out
    assert "no task for rainstorm red" not in out, "rainstorm has tasks of its own at red"


def test_an_unknown_department_in_tasks_is_refused_at_start_too(config_dir: Path) -> None:
    _edit(config_dir / "departments.yaml", "{department: fl, task: families", "{department: flx, task: families")
    code, out = check(config_dir)
    assert code != 0 and "tasks.default.orange[5].department: 'flx' is not a department" in out
    with pytest.raises(ConfigError) as err:
        load_settings(config_dir)
    assert any("departments.yaml" in line and "flx" in line for line in err.value.lines)


def test_nobody_on_approver_duty_fails(config_dir: Path) -> None:
    text = (config_dir / "workflow.yaml").read_text(encoding="utf-8")
    start = text.index("duty:\n")
    end = text.index("# Reminders and escalation")
    (config_dir / "workflow.yaml").write_text(text[:start] + "duty:\n  primary: []\n  backup: []\n" + text[end:],
                                              encoding="utf-8")
    code, out = check(config_dir)
    assert code != 0 and "duty.primary: empty — nobody would be paged" in out


def test_a_changed_skeleton_is_unreviewed_until_stamped(config_dir: Path, tmp_path: Path) -> None:
    library = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", library)
    _edit(config_dir / "service.yaml", f"templates_dir: {ROOT / 'templates'}", f"templates_dir: {library}")
    # The IM wording (a changed SMS wording must be registered again as well: tests/events/test_domestic_sms.py).
    _edit(library / "rumour" / "response.yml", "请在本群提醒大家。", "请在群里提醒大家。")
    code, out = check(config_dir)
    assert code != 0 and "response.yml: changed — review the wording and stamp it" in out

    from alerts.events.stamp import main

    assert main([str(library / "rumour" / "response.yml"), "--reviewed-by", "专家组", "--approved-by", "应急局"]) == 0
    code, out = check(config_dir)
    assert code == 0, out
