"""Who may act on a chain: an Update or Cancel must come from the source that pushed its first message.

A second source account could otherwise cancel another source's warning. Sources are the names
intake records ("push:<user>" for a pushing account, a feed name for a polled or directory feed);
chains.yaml `source_groups` lets sources of one body act on each other's chains. A refused
document is kept as a received input with the reason (raw_inputs outcome "refused").
"""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import Alert
from alerts.settings.chains import ChainsConfig, source_matches
from alerts.store import alerts as alert_store
from alerts.store.tables import raw_inputs


async def chain_source(conn: AsyncConnection, chain_id: int) -> str | None:
    """The source that delivered the chain's first message, or None when unknown."""
    row = (await conn.execute(
        select(raw_inputs.c.source).where(and_(raw_inputs.c.alert_id == chain_id,
                                               raw_inputs.c.outcome.in_(("stored", "duplicate"))))
        .order_by(raw_inputs.c.id).limit(1))).first()
    return str(row.source) if row is not None else None


def same_body(config: ChainsConfig, a: str, b: str) -> bool:
    """True when two sources are the same or share a configured group."""
    if a == b:
        return True
    return any(any(source_matches(p, a) for p in members) and any(source_matches(p, b) for p in members)
               for members in config.source_groups.values())


async def refusal(conn: AsyncConnection, alert: Alert, *, source: str, config: ChainsConfig) -> str | None:
    """Why this source may not act on the chains the message references (None: it may)."""
    if alert.msg_type not in ("Update", "Cancel") or not alert.references:
        return None
    for ref_sender, ref_identifier, _sent in alert.references:
        rows = ([r for r in [await alert_store.find(conn, ref_sender, ref_identifier)] if r is not None]
                if ref_sender else [])
        rows = rows or await alert_store.find_by_identifier(conn, ref_identifier)
        for row in rows:
            chain_id = int(row.chain_id or row.id)
            owner = await chain_source(conn, chain_id)
            if owner is not None and not same_body(config, owner, source):
                return (f"{alert.msg_type} {alert.identifier} from {source} references {ref_identifier}, whose chain "
                        f"was started by {owner}: only that source (or a source in one of its chains.yaml "
                        "source_groups) may update or cancel it")
    return None
