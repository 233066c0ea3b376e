"""Broadcast packages: one per (approved draft, township) with a spoken text for residents.

Planned in the approval's transaction (the script is fixed then), made by a background job: the
audio rendered by the offline engine where it is installed, then posted to the township's IP-broadcast
controller where one is configured. Failures are kept on the row (and shown), never retried blindly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.broadcast.audio import AudioError, engine, render_wav
from alerts.broadcast.controller import ControllerError, post_package
from alerts.broadcast.script import broadcast_script
from alerts.settings.channels import BroadcastSection
from alerts.store.engine import Database
from alerts.store.tables import broadcast_packages

log = logging.getLogger("alerts.broadcast")
KINDS = ("warning", "update", "all_clear")


def spoken_for_residents(msgs: list[Any]) -> Any | None:
    """The residents' spoken text of a draft (Chinese), if it has one."""
    for m in msgs:
        if m.channel == "voice" and m.audience == "residents" and getattr(m, "language", "zh-CN") != "en":
            return m
    return None


async def plan_packages(conn: AsyncConnection, draft: Any, msgs: list[Any], *, now: datetime) -> int:
    """One pending package per township of the draft's spoken text (none for drills and campaigns)."""
    m = spoken_for_residents(msgs)
    if m is None or draft.exercise or draft.kind not in KINDS:
        return 0
    rows = [dict(draft_id=draft.id, message_id=m.id, area=area, script=broadcast_script(m.text), state="pending",
                 audio_note="", posted="", post_error="", created_at=now, updated_at=now)
            for area in dict.fromkeys(m.areas or [])]
    if not rows:
        return 0
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(broadcast_packages)
    result = await conn.execute(insert.on_conflict_do_nothing(), rows)
    return int(result.rowcount or 0)


@dataclass
class Made:
    ready: int = 0
    failed: int = 0
    posted: int = 0


def audio_dir(var_dir: Path) -> Path:
    return var_dir / "broadcast"


async def make_pending(db: Database, cfg: BroadcastSection, var_dir: Path, now: Any, *, limit: int = 20) -> Made:
    """Make the pending packages (audio, then the controller), a few at a time. `now` is a callable."""
    made = Made()
    async with db.read() as conn:
        pending = list(await conn.execute(select(broadcast_packages).where(broadcast_packages.c.state == "pending")
                                          .order_by(broadcast_packages.c.id).limit(limit)))
    has_engine = engine(cfg) is not None
    for row in pending:
        values: dict[str, Any] = {"state": "ready", "updated_at": now()}
        audio: Path | None = None
        if has_engine:
            relative = f"broadcast/draft-{row.draft_id}-{row.area}.wav"
            try:
                await render_wav(row.script, var_dir / relative, cfg)
                audio = var_dir / relative
                values["audio_path"] = relative
            except AudioError as exc:
                values["audio_note"] = str(exc)[:500]
        else:
            values["audio_note"] = f"{cfg.espeak} is not installed: script only" if cfg.audio else "audio is off"
        url = cfg.controllers.get(row.area)
        if url:
            try:
                status = await post_package(url, draft_id=row.draft_id, area=row.area, script=row.script,
                                            audio=audio, timeout=cfg.request_timeout_seconds,
                                            secret=os.environ.get("ALERTS_BROADCAST_SECRET") or None)
                values["posted"] = str(status)
                made.posted += 1
            except ControllerError as exc:
                values.update(posted="failed", post_error=str(exc)[:500])
                log.warning("broadcast package %s for %s: %s", row.id, row.area, exc)
        async with db.write() as conn:
            await conn.execute(update(broadcast_packages).where(and_(
                broadcast_packages.c.id == row.id, broadcast_packages.c.state == "pending")).values(**values))
        made.ready += 1
    return made


async def for_draft(conn: AsyncConnection, draft_id: int) -> list[Any]:
    return list(await conn.execute(select(broadcast_packages).where(broadcast_packages.c.draft_id == draft_id)
                                   .order_by(broadcast_packages.c.area)))


async def get(conn: AsyncConnection, draft_id: int, area: str) -> Any | None:
    return (await conn.execute(select(broadcast_packages).where(and_(
        broadcast_packages.c.draft_id == draft_id, broadcast_packages.c.area == area)))).first()
