"""Recipients: the CSV import report, re-import, masking, and `alerts recipients forget` (export + erasure)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from alerts.recipients import mask_phone, normalise_phone

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "recipients"


def alerts(config_dir: Path, database_url: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, ALERTS_DATABASE_URL=database_url)
    return subprocess.run([sys.executable, "-m", "alerts", *args, "--config", str(config_dir)], env=env, text=True,
                          capture_output=True, input=input, timeout=120)


def test_phone_numbers_are_normalised_and_masked() -> None:
    assert normalise_phone("138 0013 8000") == "+8613800138000"
    assert normalise_phone("12345") is None
    assert mask_phone("+8613800138000") == "+86 138****8000"
    assert "0013" not in mask_phone("+8613800138000")
    assert mask_phone("+15005550006").endswith("0006") and "****" in mask_phone("+15005550006")


def test_import_reports_each_bad_row_and_imports_the_good_ones(config_dir: Path, database_url: str) -> None:
    done = alerts(config_dir, database_url, "recipients", "import", str(DATA / "residents_mixed.csv"))
    assert done.returncode == 0, done.stderr
    report = done.stderr
    assert "row 4: phone: '12345' is not a valid phone number" in report
    assert "row 5: area: '火星镇' is not a township code or name" in report
    assert "row 6: language: 'fr': expected zh-CN or en" in report
    assert "row 7: phone: duplicate of row 2" in report
    assert "3 added, 0 updated, 0 unchanged, 4 rows rejected" in done.stdout
    assert "Traceback" not in done.stderr

    again = alerts(config_dir, database_url, "recipients", "import", str(DATA / "residents_update.csv"))
    assert again.returncode == 0, again.stderr
    assert "1 added, 1 updated, 1 unchanged, 0 rows rejected" in again.stdout, "re-import updates, never duplicates"


def test_a_file_without_the_required_columns_is_refused_with_what_to_do(config_dir: Path, database_url: str) -> None:
    done = alerts(config_dir, database_url, "recipients", "import", str(DATA / "residents_no_area.csv"))
    assert done.returncode == 1
    assert "row 1: area: missing column(s); the header needs phone, area, groups, language" in done.stderr


def test_forget_exports_then_erases_a_person(config_dir: Path, database_url: str, tmp_path: Path) -> None:
    assert alerts(config_dir, database_url, "recipients", "import", str(DATA / "residents_update.csv")).returncode == 0
    export = tmp_path / "person.json"
    done = alerts(config_dir, database_url, "recipients", "forget", "13800138000", "--export", str(export), "--yes")
    assert done.returncode == 0, done.stderr
    held = json.loads(export.read_text(encoding="utf-8"))
    assert held["resident"]["phone"] == "+8613800138000" and held["resident"]["area"] == "140581103"
    assert "erased +86 138****8000" in done.stdout and "13800138000" not in done.stdout

    gone = alerts(config_dir, database_url, "recipients", "forget", "13800138000", "--yes")
    assert gone.returncode == 0 and "nothing is held about +86 138****8000" in gone.stdout
    bad = alerts(config_dir, database_url, "recipients", "forget", "12")
    assert bad.returncode == 2 and "not a valid phone number" in bad.stderr


def test_the_voice_column_flags_residents_for_calls(config_dir: Path, database_url: str) -> None:
    import asyncio

    from sqlalchemy import select

    from alerts.store.engine import Database
    from alerts.store.tables import residents

    done = alerts(config_dir, database_url, "recipients", "import", str(DATA / "residents_voice.csv"))
    assert done.returncode == 0, done.stderr
    assert "row 5: voice: 'maybe': expected 1 (call them) or empty" in done.stderr
    assert "3 added" in done.stdout

    async def flagged() -> dict[str, bool]:
        db = Database(database_url)
        try:
            async with db.read() as conn:
                return {r.phone: bool(r.voice) for r in await conn.execute(select(residents.c.phone, residents.c.voice))}
        finally:
            await db.close()

    assert asyncio.run(flagged()) == {"+8613800138101": True, "+8613800138102": False, "+8613800138103": True}
