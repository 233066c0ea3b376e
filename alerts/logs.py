"""Logging: JSON lines when not on a terminal (for collectors), readable lines on one. No phone numbers."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# Belt and braces: anything that looks like a full phone number is masked before it is written.
_PHONE = re.compile(r"(\+?86)?(1[3-9]\d)(\d{4})(\d{4})")


def scrub(text: str) -> str:
    return _PHONE.sub(lambda m: f"{m[1] or ''}{m[2]}****{m[4]}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key in ("alert_id", "draft_id", "delivery_id", "feed"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def setup(level: str = "INFO", json_lines: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json = (not sys.stderr.isatty()) if json_lines is None else json_lines
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
