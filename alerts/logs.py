"""Logging: JSON lines when not on a terminal (for collectors), readable lines on one. No phone numbers.

Ids that tie a line to the pipeline go in `extra=` and become JSON fields (and a `[draft 12]`
suffix on a terminal), so an operator can follow one warning across replicas:

    log.info("approved", extra={"alert_id": a.id, "draft_id": d.id})
    ids(log, draft_id=d.id).warning("escalated to backup")

ALERTS_LOG_FORMAT=json|text overrides the terminal detection; ALERTS_LOG_LEVEL sets the level.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

# Belt and braces: anything that looks like a full phone number is masked before it is written.
_PHONE = re.compile(r"(?<![\d.])(\+?86)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# Other E.164 numbers: the first two and last four digits stay, as recipients.mask_phone shows them.
_E164 = re.compile(r"\+(?!86)(\d{2})(\d{3,9})(\d{4})\b")
# Secrets that can slip into messages: bearer tokens, passwords in URLs, Twilio basic auth.
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)")

ID_FIELDS = ("alert_id", "draft_id", "message_id", "delivery_id", "raw_input_id", "campaign", "feed", "user",
             "replica")


def scrub(text: str) -> str:
    text = _E164.sub(lambda m: f"+{m[1]}****{m[3]}", text)  # first: a foreign number may look like a mobile
    text = _PHONE.sub(lambda m: f"{m[1] or ''}{m[2]}****{m[4]}", text)
    text = _BEARER.sub(r"\1***", text)
    return _URL_PASSWORD.sub(r"\1***\2", text)


def _clean(value: Any) -> Any:
    return scrub(value) if isinstance(value, str) else value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key in ID_FIELDS:
            if hasattr(record, key):
                data[key] = _clean(getattr(record, key))
        if record.exc_info:
            data["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = [f"{key.removesuffix('_id')} {getattr(record, key)}" for key in ID_FIELDS if hasattr(record, key)]
        return scrub(line + (f" [{', '.join(tags)}]" if tags else ""))


class _Ids(logging.LoggerAdapter):  # type: ignore[type-arg]
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}  # type: ignore[dict-item]
        return msg, kwargs


def ids(logger: logging.Logger, **fields: Any) -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """A logger whose every line carries these ids (e.g. draft_id=12)."""
    unknown = set(fields) - set(ID_FIELDS)
    if unknown:
        raise ValueError(f"unknown log id field(s) {sorted(unknown)}: expected some of {', '.join(ID_FIELDS)}")
    return _Ids(logger, fields)


def setup(level: str | None = None, json_lines: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    wanted = os.environ.get("ALERTS_LOG_FORMAT", "").lower()
    if json_lines is None and wanted in ("json", "text"):
        json_lines = wanted == "json"
    use_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("ALERTS_LOG_LEVEL") or "INFO").upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
