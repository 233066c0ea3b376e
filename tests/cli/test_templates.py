"""`alerts templates lint|review|list` and `alerts render`; an edited reviewed text is unreviewed."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import cli
from alerts.clock import SHANGHAI, ManualClock
from alerts.content.library import Library
from alerts.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
GBT = ROOT / "tests" / "data" / "cap" / "constructed-gaoping-rainstorm-orange.gbt35965.xml"
SMS_ID = "rainstorm.orange.residents.sms"


@pytest.fixture
def own_templates(config_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the library, so edits and reviews do not touch the shipped files."""
    target = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", target)
    service = config_dir / "service.yaml"
    service.write_text(service.read_text(encoding="utf-8").replace(str(ROOT / "templates"), str(target)),
                       encoding="utf-8")
    return target


def run(config_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--config", str(config_dir)])
    return result.exit_code, result.stdout, result.stderr


def edit_text(templates: Path, template_id: str) -> Path:
    hazard = template_id.split(".")[0]
    path = templates / hazard / (template_id.removeprefix(hazard + ".") + ".yaml")
    source = path.read_text(encoding="utf-8")
    assert "切勿涉水" in source
    path.write_text(source.replace("切勿涉水", "不要涉水"), encoding="utf-8")
    return path


def test_the_shipped_library_lints_clean_and_lists_as_reviewed(config_dir: Path) -> None:
    code, out, err = run(config_dir, "templates", "lint")
    assert code == 0, out
    code, out, _ = run(config_dir, "templates", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and rows and {r["status"] for r in rows} == {"reviewed"}


def test_an_edited_reviewed_template_is_unreviewed_for_lint_list_and_the_service(
        config_dir: Path, own_templates: Path) -> None:
    edit_text(own_templates, SMS_ID)
    code, out, _ = run(config_dir, "templates", "lint")
    assert code == 1 and f"[review] {SMS_ID}: status changed" in out
    _, out, _ = run(config_dir, "templates", "list", "--json")
    status = {r["id"]: r["status"] for r in json.loads(out)}
    assert status[SMS_ID] == "changed since review"
    _, out, _ = run(config_dir, "templates", "list")
    assert f"changed since review  {SMS_ID}" in out

    # The service drafts it but marks it as not pre-approved.
    from alerts.app import Service
    from alerts.feeds.cap import parse_alert

    settings = load_settings(config_dir, env={})
    service = Service(settings, clock=ManualClock(datetime(2026, 7, 12, 5, 35, tzinfo=SHANGHAI)))
    alert = service.hazards.normalise(parse_alert(GBT.read_bytes()))
    plan = service.route(alert)
    items, problems = service.drafter.render_planned(alert, plan.drafts, service.clock.now())
    assert not problems
    flags = {i.template_id: i.template_reviewed for i in items}
    assert flags[SMS_ID] is False
    assert all(v for k, v in flags.items() if k != SMS_ID)


def test_review_records_the_new_hash_and_the_template_is_reviewed_again(
        config_dir: Path, own_templates: Path) -> None:
    edit_text(own_templates, SMS_ID)
    code, out, err = run(config_dir, "templates", "review", SMS_ID, "--by", "市科协专家组", "--approved-by", "市应急局")
    assert code == 0, err
    assert f"reviewed {SMS_ID}: by 市科协专家组, approved by 市应急局" in out
    template = Library.load(own_templates).get(SMS_ID)
    assert template.status == "reviewed" and template.review is not None
    assert template.review.hash == template.content_hash() and template.review.approved_by == "市应急局"
    code, _, _ = run(config_dir, "templates", "lint")
    assert code == 0


def test_review_refuses_an_unknown_id_and_a_template_that_does_not_fit(
        config_dir: Path, own_templates: Path) -> None:
    code, _, err = run(config_dir, "templates", "review", "no.such.template", "--by", "x")
    assert code == 1 and "no template 'no.such.template'" in err
    path = own_templates / "rainstorm" / "orange.residents.sms.yaml"
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace("切勿涉水", "切勿涉水" + "请注意安全" * 20), encoding="utf-8")
    code, _, err = run(config_dir, "templates", "review", SMS_ID, "--by", "x")
    assert code == 1 and "cannot be reviewed until this is fixed" in err and "too long" in err
    assert Library.load(own_templates).get(SMS_ID).status == "changed"


def test_render_prints_the_text_as_sent_with_its_counts(config_dir: Path) -> None:
    code, out, err = run(config_dir, "render", SMS_ID, "--alert", str(GBT), "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"text", "characters", "encoding", "segments"}
    assert doc["text"].startswith("【高平应急科普】暴雨橙色预警（米山镇、三甲镇、神农镇）：")
    assert doc["characters"] == len(doc["text"]) and doc["encoding"] == "UCS-2"
    assert doc["segments"] == (1 if doc["characters"] <= 70 else -(-doc["characters"] // 67))
    code, out, err = run(config_dir, "render", SMS_ID, "--alert", str(GBT))
    assert out.strip() == doc["text"]
    assert f"{doc['characters']} characters, UCS-2, {doc['segments']} segment(s)" in err


def test_render_of_a_notice_and_of_an_unknown_template(config_dir: Path) -> None:
    code, out, _ = run(config_dir, "render", "rainstorm.warning.schools.notice", "--alert", str(GBT), "--json")
    doc = json.loads(out)
    assert code == 0 and "米山镇、三甲镇、神农镇" in doc["text"] and doc["segments"] is None
    code, _, err = run(config_dir, "render", "nope.nope", "--alert", str(GBT))
    assert code == 1 and "no template 'nope.nope'" in err


async def test_a_draft_with_an_edited_template_loses_the_expedited_path(
        config_dir: Path, own_templates: Path, database: object) -> None:
    from alerts.app import Service
    from alerts.store import drafts as draft_store

    service = Service(load_settings(config_dir, env={}),
                      clock=ManualClock(datetime(2026, 7, 12, 5, 35, tzinfo=SHANGHAI)), db=database)  # type: ignore[arg-type]
    before = await service.receive(GBT.read_bytes(), source="test")
    async with service.db.read() as conn:
        record = await draft_store.get(conn, before.drafts.created[0])
    assert record is not None and service.policy.verdict(record.row, record.messages).expedited

    edit_text(own_templates, SMS_ID)
    edited = Service(load_settings(config_dir, env={}), clock=service.clock, db=database)  # type: ignore[arg-type]
    after = await edited.receive(GBT.read_bytes().replace(b"20260712053000", b"20260712063000"), source="test")
    async with edited.db.read() as conn:
        record = await draft_store.get(conn, after.drafts.created[0])
    assert record is not None
    sms = next(m for m in record.messages if m.template_id == SMS_ID)
    assert sms.template_reviewed is False
    verdict = edited.policy.verdict(record.row, record.messages)
    assert not verdict.expedited and verdict.needs_expert


def test_render_without_an_alert_shows_a_campaign_text_and_refuses_a_warning_text(config_dir: Path) -> None:
    code, out, _ = run(config_dir, "render", "science_month.preparedness.residents.sms", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["text"].startswith("【高平应急科普】科技活动周") and doc["segments"] <= 2
    code, _, err = run(config_dir, "render", "rainstorm.orange.residents.sms")
    assert code == 2
    assert "give the alert it is for with --alert FILE" in err and "Traceback" not in err
