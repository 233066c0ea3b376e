"""The log channel: writes what would be sent to a file and the log. The default without credentials."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.channels.base import Ok, Outbound, Outcome, Permanent, sms_number, with_signature
from alerts.recipients import mask_phone

log = logging.getLogger("alerts.channels.log")


class LogChannel:
    def __init__(self, path: Path, name: str = "sms", *, signature: str = "", contacts: Any | None = None):
        self.name = name
        self.signature = signature
        self.contacts = contacts  # organisations' SMS contacts, decrypted at send time
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = asyncio.Lock()

    async def send(self, item: Outbound) -> Outcome:
        to = await sms_number(item, self.contacts) if self.name == "sms" else item.address
        if isinstance(to, Permanent):
            return to
        shown = mask_phone(to) if to.startswith("+") else to
        text = with_signature(item.text, self.signature) if self.name == "sms" else item.text
        record = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "delivery": item.delivery_id,
            "draft": item.draft_id,
            "channel": item.channel,
            "to": shown,
            "exercise": item.exercise,
            "text": text,
        }
        line = json.dumps(record, ensure_ascii=False)
        async with self._lock:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        log.info("log channel: %s to %s (draft %s): %s", item.channel, shown, item.draft_id, text)
        return Ok(provider_id=f"log-{item.delivery_id}", provider_status="delivered")

    async def close(self) -> None:
        if self.contacts is not None:
            await self.contacts.close()
