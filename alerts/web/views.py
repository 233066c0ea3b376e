"""Shared read models: a draft as the API and the console show it."""

from __future__ import annotations

from typing import Any

from alerts.content.sms import measure
from alerts.store.drafts import DraftRecord


def iso(dt: Any) -> str | None:
    return dt.isoformat() if dt is not None else None


def message_json(m: Any, signature: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": m.id, "audience": m.audience, "channel": m.channel, "language": m.language,
        "template": m.template_id, "template_reviewed": m.template_reviewed, "edited": m.edited,
        "expert_reviewed_by": m.expert_reviewed_by, "areas": list(m.areas or []), "route": m.route,
        # Whom of the audience it reaches: all, chain (reached before by its chain) or new (not yet).
        "reach_to": getattr(m, "reach", None) or "all",
    }
    if m.channel == "sms":
        sms = measure(m.text, signature)
        item.update(text=sms.text, characters=sms.characters, encoding=sms.encoding, segments=sms.segments)
    else:
        item.update(text=m.text, characters=len(m.text))
    return item


def draft_json(record: DraftRecord, signature: str, *, policy: str | None = None,
               reach: dict[int, list[Any]] | None = None) -> dict[str, Any]:
    d = record.row
    messages = []
    for m in record.messages:
        item = message_json(m, signature)
        if reach is not None and m.audience not in ("residents", "elderly"):
            # Which organisations, and through which (masked) contacts, this message will reach.
            item["organisations"] = [{"name": r.organisation, "kind": r.kind, "area": r.area, "channels": r.channels}
                                     for r in reach.get(int(m.id), [])]
        messages.append(item)
    return {
        "id": d.id, "state": d.state, "kind": d.kind, "alert_id": d.alert_id, "hazard": d.hazard, "level": d.level,
        "exercise": d.exercise, "expedited": d.expedited, "group": d.group_key, "created_by": d.created_by,
        "last_edited_by": d.last_edited_by, "created_at": iso(d.created_at), "updated_at": iso(d.updated_at),
        "expires_at": iso(d.expires_at), "decided_by": d.decided_by, "decided_at": iso(d.decided_at),
        "reason": d.reason, "parent_draft_id": d.parent_draft_id, "policy": policy,
        "stage": getattr(d, "stage", None),
        "messages": messages,
        "approvals": [{"user": a.user_name, "role": a.role, "decision": a.decision, "at": iso(a.at), "note": a.note}
                      for a in record.approvals],
    }


def draft_summary(row: Any) -> dict[str, Any]:
    return {"id": row.id, "state": row.state, "kind": row.kind, "alert_id": row.alert_id, "hazard": row.hazard,
            "level": row.level, "stage": getattr(row, "stage", None), "exercise": row.exercise,
            "created_at": iso(row.created_at),
            "expires_at": iso(row.expires_at)}
