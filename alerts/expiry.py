"""Expiry: a warning past its expiry time without an all-clear, followed up where its source says expiry ends it.

Meteorological signals lapse at their expiry time unless renewed, so for sources listed in
chains.yaml `expiry_ends_warning` the chain gets a "到期自动解除" draft for everyone it reached
(chain stage `expire`, the library's `expiry` texts), proposed to the approver like any all-clear.
For other sources the warning is only marked expired: their convention is an explicit 解除.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.chainauth import chain_source
from alerts.settings.chains import source_matches
from alerts.store import alerts as alert_store

log = logging.getLogger("alerts.expiry")


async def follow_expired(service: Any, conn: AsyncConnection, alert_ids: list[int], now: datetime) -> list[int]:
    """Draft the 到期自动解除 follow-ups for alerts that just expired; the created draft ids."""
    created: list[int] = []
    for alert_id in alert_ids:
        row = await alert_store.get(conn, alert_id)
        if row is None or row.msg_type == "Cancel":
            continue
        chain_id = int(row.chain_id or row.id)
        source = await chain_source(conn, chain_id)
        if source is None or not any(source_matches(p, source) for p in service.chains.expiry_ends_warning):
            await alert_store.add_event(conn, alert_id, at=now, change="expired",
                                        cause=f"source {source or 'unknown'} ends warnings explicitly: no follow-up")
            continue
        alert = alert_store.row_to_alert(row)
        plan = service.router.plan(alert, stage="expire")
        outcome = await service.drafter.draft_for_alert(conn, alert, alert_id=alert_id, chain_id=chain_id,
                                                        plan=plan, now=now, stage="expire")
        await alert_store.add_event(conn, alert_id, at=now, change="stage:expire",
                                    cause="到期自动解除: expiry passed without an all-clear; "
                                          + (f"draft {outcome.created}" if outcome.created else "nobody was reached"))
        for problem in outcome.problems:
            log.error("expiry of alert %s: %s", alert_id, problem)
        created.extend(outcome.created)
    return created
