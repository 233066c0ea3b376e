"""The events desk: everything about events the service builds once, and the few calls the pipeline makes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.events import opening
from alerts.events.actions import EventActions
from alerts.events.escalation import Escalation, RunReport
from alerts.events.links import link_key, make_token
from alerts.events.publishing import Publishing
from alerts.events.skeletons import Skeletons
from alerts.events.texts import EventTexts
from alerts.model import Alert
from alerts.settings import Settings
from alerts.settings.departments import departments_config
from alerts.settings.events import events_config
from alerts.store import problems as problem_store

log = logging.getLogger("alerts.events")


class EventDesk:
    def __init__(self, service: Any):
        self.service = service
        settings: Settings = service.settings
        self.config = events_config(settings)
        self.departments = departments_config(settings)
        self.skeletons = Skeletons.load(settings.templates_dir)
        names = {k: service.hazards.name_zh(k) for k in service.hazards.keys()}
        self.texts = EventTexts(self.skeletons, service.areas, hazard_names=names,
                                department_names={k: d.short for k, d in self.departments.departments.items()},
                                issuer_default=settings.service.issuer_default, issuers=settings.service.issuers)
        self.escalation = Escalation(self)
        self.publishing = Publishing(self)
        self.actions = EventActions(self)
        self.link_key = link_key(settings.secrets)
        self.base_url = settings.service.http.public_base_url.rstrip("/")

    # --- the pipeline's calls -------------------------------------------------------------

    async def on_alert(self, conn: AsyncConnection, alert: Alert, *, alert_id: int, chain_id: int, areas: list[str],
                       now: datetime) -> int | None:
        """Inside receive's transaction: open, join or update the alert's event. A failure here is
        contained in a savepoint and reported as an operator problem; the alert and its drafts stand."""
        try:
            async with conn.begin_nested():
                return await opening.on_alert(self, conn, alert, alert_id=alert_id, chain_id=chain_id, areas=areas,
                                              now=now)
        except Exception as exc:  # noqa: BLE001 - the warning itself must never be lost to an event bug
            log.exception("alert %s: the event could not be opened or updated", alert_id)
            await problem_store.report(
                conn, key=f"alert:{alert_id}:event", kind="event_failed", severity="critical", subject=f"alert:{alert_id}",
                what=f"预警（alert {alert_id}）未能开启或更新事件：{exc.__class__.__name__}",
                why="事件、部门任务或叫应未生成；预警消息本身照常起草",
                todo="请在事件页面手动开启事件，并查看服务日志", at=now)
            return None

    async def run_once(self) -> RunReport:
        """The scheduler's job: due first notices and escalation steps."""
        return await self.escalation.run_once()

    def link_for(self, request_id: int, person: str, now: datetime) -> str | None:
        if self.link_key is None:
            return None
        token = make_token(self.link_key, request_id, person, now=now, valid_hours=self.config.links.valid_hours)
        return f"{self.base_url}/ack/{token}"
