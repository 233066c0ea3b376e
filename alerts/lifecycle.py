"""The alert lifecycle: dedup by (sender, identifier); Update supersedes, Cancel cancels; expiry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import Alert
from alerts.store import alerts as alert_store


@dataclass
class Stored:
    alert_id: int
    chain_id: int
    duplicate: bool = False
    # Alerts this one superseded or cancelled (ids), for the routing stage's follow-ups.
    superseded: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    # True when an earlier-received Cancel already referenced this alert (out of order).
    cancelled_on_arrival: bool = False


async def _referenced(conn: AsyncConnection, sender: str, identifier: str) -> list[int]:
    row = await alert_store.find(conn, sender, identifier) if sender else None
    if row is not None:
        return [row.id]
    # Chinese feeds do not always repeat the sender string the same way (a name in one message,
    # a code in the next), so an identifier alone links when the sender does not match.
    return [r.id for r in await alert_store.find_by_identifier(conn, identifier)]


async def store(conn: AsyncConnection, alert: Alert, *, now: datetime) -> Stored:
    """Store an alert once and apply what it says about earlier ones. Call inside a write transaction."""
    existing = await alert_store.find(conn, alert.sender, alert.identifier)
    if existing is not None:
        return Stored(alert_id=existing.id, chain_id=existing.chain_id or existing.id, duplicate=True)

    targets: list[tuple[str, str, list[int]]] = []
    for ref_sender, ref_identifier, _sent in alert.references:
        targets.append((ref_sender, ref_identifier, await _referenced(conn, ref_sender, ref_identifier)))
    chain_ids = []
    for _s, _i, ids in targets:
        for ref_id in ids:
            row = await alert_store.get(conn, ref_id)
            if row is not None:
                chain_ids.append(row.chain_id or row.id)
    chain_id = min(chain_ids) if chain_ids else None
    alert_id = await alert_store.insert(conn, alert, received_at=now, chain_id=chain_id)
    result = Stored(alert_id=alert_id, chain_id=chain_id or alert_id)
    await alert_store.add_event(
        conn, alert_id, at=now, change="received", cause=f"{alert.msg_type} from {alert.sender}"
    )

    for ref_sender, ref_identifier, ids in targets:
        if not ids:
            await alert_store.add_reference(conn, alert_id, ref_sender, ref_identifier, None)
            await alert_store.add_event(
                conn, alert_id, at=now, change="waiting",
                cause=f"references {ref_identifier}, not received yet; linked when it arrives",
            )
        for ref_id in ids:
            await alert_store.add_reference(conn, alert_id, ref_sender, ref_identifier, ref_id)
            await _apply(conn, alert.msg_type, alert.identifier, ref_id, now, result)

    # Messages that arrived before this one and reference it: link them now.
    for ref in await alert_store.unresolved_references_to(conn, alert.identifier):
        if ref.ref_sender and ref.ref_sender != alert.sender and await alert_store.find(conn, ref.ref_sender, alert.identifier):
            continue
        await alert_store.resolve_reference(conn, ref.id, alert_id)
        await alert_store.set_chain(conn, ref.alert_id, result.chain_id)
        referrer = await alert_store.get(conn, ref.alert_id)
        cause_id = referrer.identifier if referrer is not None else str(ref.alert_id)
        await alert_store.add_event(conn, alert_id, at=now, change="linked", cause=f"referenced earlier by {cause_id}")
        if ref.msg_type == "Cancel":
            await alert_store.set_state(conn, alert_id, "cancelled")
            await alert_store.add_event(conn, alert_id, at=now, change="cancelled", cause=f"by {cause_id} (received first)")
            result.cancelled_on_arrival = True
        elif ref.msg_type == "Update":
            await alert_store.set_state(conn, alert_id, "superseded")
            await alert_store.add_event(conn, alert_id, at=now, change="superseded", cause=f"by {cause_id} (received first)")
    return result


async def _apply(
    conn: AsyncConnection, msg_type: str, by_identifier: str, target_id: int, now: datetime, result: Stored
) -> None:
    if msg_type == "Cancel":
        await alert_store.set_state(conn, target_id, "cancelled")
        await alert_store.add_event(conn, target_id, at=now, change="cancelled", cause=f"by {by_identifier}")
        result.cancelled.append(target_id)
    elif msg_type == "Update":
        await alert_store.set_state(conn, target_id, "superseded")
        await alert_store.add_event(conn, target_id, at=now, change="superseded", cause=f"by {by_identifier}")
        result.superseded.append(target_id)


async def expire_due(conn: AsyncConnection, now: datetime) -> list[int]:
    """Mark active alerts past their expiry as expired; return their ids."""
    ids = [row.id for row in await alert_store.expired_active(conn, now)]
    for alert_id in ids:
        await alert_store.set_state(conn, alert_id, "expired")
        await alert_store.add_event(conn, alert_id, at=now, change="expired", cause="expiry time passed")
    return ids
