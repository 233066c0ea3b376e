"""Queries for alerts, their references and lifecycle events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import Alert
from alerts.store.tables import alert_events, alert_references, alerts


def row_to_alert(row: Any) -> Alert:
    return Alert.model_validate(row.data)


async def find(conn: AsyncConnection, sender: str, identifier: str) -> Any | None:
    result = await conn.execute(
        select(alerts).where(and_(alerts.c.sender == sender, alerts.c.identifier == identifier))
    )
    return result.first()


async def find_by_identifier(conn: AsyncConnection, identifier: str) -> list[Any]:
    result = await conn.execute(select(alerts).where(alerts.c.identifier == identifier).order_by(alerts.c.id))
    return list(result)


async def get(conn: AsyncConnection, alert_id: int) -> Any | None:
    return (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).first()


async def insert(conn: AsyncConnection, alert: Alert, *, received_at: datetime, chain_id: int | None) -> int:
    result = await conn.execute(
        alerts.insert().values(
            sender=alert.sender,
            identifier=alert.identifier,
            sent=alert.sent,
            status=alert.status,
            msg_type=alert.msg_type,
            scope=alert.scope,
            format=alert.format,
            hazard=alert.hazard,
            level=alert.level.value if alert.level else None,
            headline=(alert.primary_info().headline if alert.primary_info() else "")[:2000],
            expires=alert.expires,
            state="active",
            chain_id=chain_id,
            data=alert.model_dump(mode="json"),
            received_at=received_at,
        )
    )
    alert_id = int(result.inserted_primary_key[0])
    if chain_id is None:
        await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(chain_id=alert_id))
    return alert_id


async def set_state(conn: AsyncConnection, alert_id: int, state: str) -> None:
    await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(state=state))


async def set_chain(conn: AsyncConnection, alert_id: int, chain_id: int) -> None:
    await conn.execute(update(alerts).where(alerts.c.id == alert_id).values(chain_id=chain_id))


async def add_event(conn: AsyncConnection, alert_id: int, *, at: datetime, change: str, cause: str) -> None:
    await conn.execute(alert_events.insert().values(alert_id=alert_id, at=at, change=change, cause=cause))


async def events(conn: AsyncConnection, alert_id: int) -> list[Any]:
    result = await conn.execute(
        select(alert_events).where(alert_events.c.alert_id == alert_id).order_by(alert_events.c.id)
    )
    return list(result)


async def add_reference(
    conn: AsyncConnection, alert_id: int, ref_sender: str, ref_identifier: str, resolved: int | None
) -> None:
    await conn.execute(
        alert_references.insert().values(
            alert_id=alert_id, ref_sender=ref_sender, ref_identifier=ref_identifier, resolved_alert_id=resolved
        )
    )


async def unresolved_references_to(conn: AsyncConnection, identifier: str) -> list[Any]:
    result = await conn.execute(
        select(alert_references, alerts.c.msg_type, alerts.c.chain_id)
        .join(alerts, alerts.c.id == alert_references.c.alert_id)
        .where(and_(alert_references.c.ref_identifier == identifier, alert_references.c.resolved_alert_id.is_(None)))
    )
    return list(result)


async def resolve_reference(conn: AsyncConnection, ref_id: int, resolved: int) -> None:
    await conn.execute(
        update(alert_references).where(alert_references.c.id == ref_id).values(resolved_alert_id=resolved)
    )


async def expired_active(conn: AsyncConnection, now: datetime) -> list[Any]:
    result = await conn.execute(
        select(alerts.c.id).where(and_(alerts.c.state == "active", alerts.c.expires.is_not(None), alerts.c.expires <= now))
    )
    return list(result)


async def recent(conn: AsyncConnection, limit: int = 50) -> list[Any]:
    result = await conn.execute(select(alerts).order_by(alerts.c.id.desc()).limit(limit))
    return list(result)


async def previous_in_chain(conn: AsyncConnection, chain_id: int, before_id: int) -> Any | None:
    """The chain's latest message received before this one (what the new one follows), or None."""
    result = await conn.execute(
        select(alerts).where(and_(alerts.c.chain_id == chain_id, alerts.c.id < before_id))
        .order_by(alerts.c.id.desc()).limit(1))
    return result.first()


async def in_force(conn: AsyncConnection, limit: int = 200) -> list[Any]:
    """Chains still in force: the latest message of each chain, when it is active (not cancelled or expired)."""
    latest = select(alerts.c.chain_id, func.max(alerts.c.id).label("last_id")).group_by(alerts.c.chain_id).subquery()
    result = await conn.execute(
        select(alerts).join(latest, latest.c.last_id == alerts.c.id)
        .where(and_(alerts.c.state == "active", alerts.c.msg_type != "Cancel"))
        .order_by(alerts.c.id.desc()).limit(limit))
    return list(result)


async def chain_messages(conn: AsyncConnection, chain_id: int) -> int:
    """How many messages a chain has received so far."""
    result = await conn.execute(select(func.count()).select_from(alerts).where(alerts.c.chain_id == chain_id))
    return int(result.scalar_one())
