"""Structured logs: JSON lines with pipeline ids for collectors; phone numbers and secrets never written."""

from __future__ import annotations

import json
import logging

import pytest

from alerts.logs import JsonFormatter, TextFormatter, ids, scrub


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("alerts.test", logging.INFO, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_json_lines_carry_alert_and_draft_ids_as_fields() -> None:
    line = JsonFormatter().format(record("draft %s approved", 12, alert_id=7, draft_id=12))
    data = json.loads(line)
    assert data["msg"] == "draft 12 approved" and data["alert_id"] == 7 and data["draft_id"] == 12
    assert data["level"] == "info" and data["logger"] == "alerts.test" and data["at"].endswith("+00:00")


def test_text_lines_name_the_ids_at_the_end() -> None:
    line = TextFormatter("%(levelname)s %(message)s").format(record("escalated", draft_id=12))
    assert line == "INFO escalated [draft 12]"


@pytest.mark.parametrize(("raw", "shown"), [
    ("sent to +8613912345678", "sent to +86139****5678"),
    ("sent to 13912345678", "sent to 139****5678"),
    ("sent to +14155550123", "sent to +14****0123"),
    ("Authorization: Bearer abcdefghijkl123", "Authorization: Bearer ***"),
    ("postgresql://alerts:hunter2@db:5432/alerts", "postgresql://alerts:***@db:5432/alerts"),
])
def test_phone_numbers_and_secrets_are_scrubbed(raw: str, shown: str) -> None:
    assert scrub(raw) == shown


def test_ids_in_extra_fields_are_scrubbed_too() -> None:
    data = json.loads(JsonFormatter().format(record("x", user="+8613912345678")))
    assert data["user"] == "+86139****5678"


def test_an_id_adapter_adds_ids_to_every_line_and_refuses_unknown_fields(caplog: pytest.LogCaptureFixture) -> None:
    log = ids(logging.getLogger("alerts.test"), draft_id=5)
    with caplog.at_level(logging.INFO):
        log.info("reminder sent", extra={"alert_id": 3})
    assert caplog.records[-1].draft_id == 5 and caplog.records[-1].alert_id == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown log id"):
        ids(logging.getLogger("x"), phone="+8613900000000")


def test_scrub_leaves_alert_identifiers_alone_but_masks_phone_numbers() -> None:
    from alerts.logs import scrub

    line = "alert 14058141600000_20260712053000 to +8613800138000 and 13800138001"
    assert scrub(line) == "alert 14058141600000_20260712053000 to +86138****8000 and 138****8001"
