"""Several warnings at once: pending new warnings for the same townships become one combined offer.

A rainstorm orange, a geological-hazard warning and a thunderstorm blue inside an hour is a normal
July afternoon in Gaoping; a resident should get one SMS per change, not a burst. When a new
warning is drafted while other new warnings for overlapping townships are still pending (created
within chains.yaml `combine.window_seconds`), they are replaced by one combined draft: townships
under several warnings get one SMS naming each hazard with its one-line advice (the reviewed
`brief` texts), highest level first; townships under one warning keep that warning's own SMS;
organisations' notices are carried over unchanged. Each message records the chains it speaks for
(message_chains), so approving the combined draft covers each chain and their later changes and
all-clears reach whom it reached. Red warnings are never combined and never wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.content.render import RenderError, render
from alerts.content.sms import measure
from alerts.model import LEVEL_ZH, Level, level_rank
from alerts.store import alerts as alert_store
from alerts.store import drafts as draft_store
from alerts.store.tables import drafts, message_chains
from alerts.workflow import audit

COMBINED_PREFIX = "combined:"
SMS_LIMIT = 134  # two UCS-2 segments, signature included (content checks enforce the same)


async def offer(conn: AsyncConnection, draft_id: int, *, drafter: Any, window_seconds: float,
                now: datetime, signature: str = "【高平应急科普】") -> int | None:
    """Combine the new draft with concurrent pending warnings for overlapping townships; the combined
    draft's id, or None when there is nothing to combine."""
    if window_seconds <= 0:
        return None
    new = await draft_store.get(conn, draft_id)
    if new is None or not _combinable(new.row):
        return None
    since = now - timedelta(seconds=window_seconds)
    # Another chain of the new draft's own hazard is never taken (below): left out here already, so
    # a burst of one hazard's warnings does not make each push read all the others.
    rows = list(await conn.execute(select(drafts).where(and_(
        drafts.c.state == "pending", drafts.c.kind == "warning", drafts.c.exercise.is_(False),
        drafts.c.created_at >= since, drafts.c.id != draft_id,
        or_(drafts.c.group_key.startswith(COMBINED_PREFIX, autoescape=True), drafts.c.hazard.is_(None),
            drafts.c.hazard != new.row.hazard))).order_by(drafts.c.id)))
    components: dict[str, draft_store.DraftRecord] = {new.row.group_key: new}
    previous_offers = []
    for row in rows:
        if not _combinable(row) and not str(row.group_key).startswith(COMBINED_PREFIX):
            continue
        hazards = {c.row.hazard for c in components.values()}
        if not str(row.group_key).startswith(COMBINED_PREFIX) and row.hazard in hazards:
            continue  # a second chain of a hazard already here is never taken: skip reading its messages
        record = await draft_store.get(conn, row.id)
        if record is None:
            continue
        if str(row.group_key).startswith(COMBINED_PREFIX):
            parts = await _components_of(conn, record)
            if _overlap(parts, components) and not hazards & {p.row.hazard for p in parts}:
                previous_offers.append(record)
                components.update({p.row.group_key: p for p in parts})
        elif _overlap([record], components) and row.hazard not in hazards:
            # Two chains of one hazard are not "several warnings": each keeps its own text.
            components[row.group_key] = record
    if len(components) < 2:
        return None
    combined_id = await build(conn, list(components.values()), drafter=drafter, now=now, signature=signature)
    for old in [*previous_offers, *(p for p in components.values() if p.state == "pending")]:
        if await draft_store.transition(conn, old.id, "pending", "superseded", at=now, by="system",
                                        reason=f"combined with concurrent warnings into draft {combined_id}"):
            await audit.append(conn, at=now, actor="system", action="draft.combined", target=f"draft:{old.id}",
                               origin="pipeline", after={"into": combined_id})
    return combined_id


async def build(conn: AsyncConnection, components: list[draft_store.DraftRecord], *, drafter: Any, now: datetime,
                signature: str) -> int:
    """A pending combined draft for these chains' drafts (a plain copy when only one is left)."""
    parts = sorted(components, key=lambda r: (-level_rank(r.row.level), r.id))
    top = parts[0].row
    if len(parts) == 1:
        items = [_copy(m, list(m.areas or []), m.text) for m in parts[0].messages]
        return await draft_store.create(
            conn, alert_id=top.alert_id, kind=top.kind, hazard=top.hazard, level=top.level, group_key=top.group_key,
            exercise=top.exercise, created_by="system", at=now, expires_at=top.expires_at, items=items,
            stage=top.stage)
    items, links = await _messages(conn, parts, drafter, signature)
    group_key = COMBINED_PREFIX + "+".join(sorted(str(p.row.group_key).removeprefix("chain:") for p in parts))
    combined_id = await draft_store.create(
        conn, alert_id=top.alert_id, kind="warning", hazard=top.hazard, level=top.level, group_key=group_key[:400],
        exercise=False, created_by="system", at=now,
        expires_at=max((p.row.expires_at for p in parts if p.row.expires_at), default=None), items=items,
        stage="new")
    record = await draft_store.get(conn, combined_id)
    assert record is not None
    for message, chains in zip(record.messages, links, strict=True):
        for key in chains:
            await conn.execute(message_chains.insert().values(message_id=message.id, group_key=key))
    await audit.append(conn, at=now, actor="system", action="draft.created", target=f"draft:{combined_id}",
                       origin="pipeline", after={"kind": "warning", "combined": [p.id for p in parts],
                                                 "messages": len(items)})
    return combined_id


async def dissolve(conn: AsyncConnection, combined: Any, *, affected: set[int], now: datetime, drafter: Any,
                   reason: str) -> list[int]:
    """Supersede a pending combined draft because some of its chains changed (`affected`: ids of their
    drafts) and offer the others again; the new draft ids."""
    record = await draft_store.get(conn, combined.id)
    if record is None:
        return []
    parts = await _components_of(conn, record)
    if not any(p.id in affected for p in parts):
        return []
    if not await draft_store.transition(conn, record.id, "pending", "superseded", at=now, by="system", reason=reason):
        return []
    await audit.append(conn, at=now, actor="system", action="draft.superseded", target=f"draft:{record.id}",
                       origin="pipeline", after={"reason": reason})
    rest = [p for p in parts if p.id not in affected]
    return [await build(conn, rest, drafter=drafter, now=now, signature=drafter.signature)] if rest else []


async def components(conn: AsyncConnection, draft_id: int) -> list[draft_store.DraftRecord]:
    """The chains' drafts a combined draft speaks for."""
    record = await draft_store.get(conn, draft_id)
    return await _components_of(conn, record) if record is not None else []


def _combinable(row: Any) -> bool:
    return (row.kind == "warning" and row.level != "red" and not row.exercise
            and str(row.group_key).startswith("chain:"))


def _resident_areas(record: draft_store.DraftRecord) -> set[str]:
    return {a for m in record.messages if _resident_sms(m) for a in (m.areas or [])}


def _resident_sms(m: Any) -> bool:
    return m.audience == "residents" and m.channel == "sms" and m.language == "zh-CN" and (m.reach or "all") == "all"


def _overlap(candidates: list[draft_store.DraftRecord], components: dict[str, draft_store.DraftRecord]) -> bool:
    mine = set().union(*(_resident_areas(c) for c in components.values()))
    return any(_resident_areas(c) & mine for c in candidates)


async def _components_of(conn: AsyncConnection, combined: draft_store.DraftRecord) -> list[draft_store.DraftRecord]:
    """The chains' own drafts a pending combined draft was made of (each chain's latest new warning)."""
    keys = sorted({r.group_key for r in await conn.execute(
        select(message_chains.c.group_key).where(message_chains.c.message_id.in_([m.id for m in combined.messages])))})
    out = []
    for key in keys:
        chain = [d for d in await draft_store.chain(conn, key) if d.kind == "warning" and d.state == "superseded"]
        if chain:
            record = await draft_store.get(conn, chain[-1].id)
            if record is not None:
                out.append(record)
    return out


async def _messages(conn: AsyncConnection, parts: list[draft_store.DraftRecord], drafter: Any,
                    signature: str) -> tuple[list[draft_store.NewMessage], list[list[str]]]:
    """The combined draft's messages and, for each, the chains it speaks for."""
    items: list[draft_store.NewMessage] = []
    links: list[list[str]] = []
    for part in parts:  # everything but the residents' Chinese SMS is carried over as it is
        for m in part.messages:
            if not _resident_sms(m):
                items.append(_copy(m, list(m.areas or []), m.text))
                links.append([part.row.group_key])
    by_township: dict[str, list[draft_store.DraftRecord]] = {}
    for part in parts:
        for code in sorted(_resident_areas(part)):
            by_township.setdefault(code, []).append(part)
    groups: dict[tuple[int, ...], list[str]] = {}
    for code, covering in by_township.items():
        groups.setdefault(tuple(p.id for p in covering), []).append(code)
    for ids, codes in groups.items():
        covering = [p for p in parts if p.id in ids]
        if len(covering) == 1:
            own = next(m for m in covering[0].messages if _resident_sms(m))
            items.append(_copy(own, codes, own.text))
        else:
            text, reviewed, template_ids = await _combined_text(conn, covering, codes, drafter, signature)
            first = next(m for m in covering[0].messages if _resident_sms(m))
            items.append(draft_store.NewMessage(
                route="combined", template_id="+".join(template_ids)[:200], template_hash="combined",
                template_reviewed=reviewed, audience="residents", channel="sms", language="zh-CN", areas=codes,
                text=text, reach=first.reach or "all"))
        links.append([p.row.group_key for p in covering])
    return items, links


def _copy(m: Any, areas: list[str], text: str) -> draft_store.NewMessage:
    return draft_store.NewMessage(route=m.route, template_id=m.template_id, template_hash=m.template_hash,
                                  template_reviewed=m.template_reviewed, audience=m.audience, channel=m.channel,
                                  language=m.language, areas=areas, text=text, reach=m.reach or "all",
                                  params=dict(m.params) if getattr(m, "params", None) is not None else None)


async def _combined_text(conn: AsyncConnection, covering: list[draft_store.DraftRecord], codes: list[str],
                         drafter: Any, signature: str) -> tuple[str, bool, list[str]]:
    """One SMS for several warnings: each hazard with its one-line advice, highest level first, then
    the offices and the latest issue time. Shortened step by step until it fits two segments."""
    lines: list[tuple[str, str]] = []  # (hazard and level, brief advice)
    offices: list[str] = []
    latest = None
    reviewed = True
    template_ids = []
    for part in covering:
        row = await alert_store.get(conn, part.row.alert_id) if part.row.alert_id else None
        alert = alert_store.row_to_alert(row) if row is not None else None
        hazard = part.row.hazard or ""
        name = drafter.hazard_names.get(hazard, hazard)
        level = LEVEL_ZH[Level(part.row.level)] if part.row.level else ""
        brief = ""
        key = drafter.library_key(hazard)
        found = drafter.library.find(key, part.row.level, "residents", "sms", "brief") if key else []
        if found:
            template = found[0]
            template_ids.append(template.id)
            reviewed = reviewed and template.status == "reviewed"
            try:
                brief = render(template, {"level": part.row.level or "", "event": name, "level_name": level})
            except RenderError:
                brief = ""
        else:
            reviewed = False
        lines.append((f"{name}{level}预警", brief))
        if alert is not None:
            office = drafter.office(alert)
            if office not in offices:
                offices.append(office)
            latest = alert.sent if latest is None or alert.sent > latest else latest
    from alerts.content.render import format_day_time

    when = format_day_time(latest)
    source = (offices[0] + ("等" if len(offices) > 1 else "")) if offices else ""
    for area in (drafter.areas.phrase(codes), f"{drafter.areas.region_name}{len(codes)}个乡镇"):
        for keep in range(len(lines), -1, -1):  # drop the advice of the lowest levels first
            items = "；".join(f"{head}（{brief}）" if brief and i < keep else head for i, (head, brief) in enumerate(lines))
            text = f"{area}同时有{len(lines)}项预警：{items}。{source}{when}前发布。"
            if measure(text, signature).characters <= SMS_LIMIT:
                return text, reviewed, template_ids
    return text, reviewed, template_ids


async def reoffer(conn: AsyncConnection, combined_id: int, *, now: datetime, by: str) -> list[int]:
    """A rejected combined draft gives each chain its own draft back, pending again: rejecting the
    combination is not rejecting the warnings (they would otherwise reach nobody). A chain that has
    moved on meanwhile (another draft pending or sent) is left to that draft."""
    record = await draft_store.get(conn, combined_id)
    if record is None or not str(record.row.group_key).startswith(COMBINED_PREFIX):
        return []
    created = []
    for part in await _components_of(conn, record):
        later = [d for d in await draft_store.chain(conn, part.row.group_key)
                 if d.id > part.id and d.state not in ("superseded", "rejected", "withdrawn")]
        if later:
            continue
        items = [_copy(m, list(m.areas or []), m.text) for m in part.messages]
        row = part.row
        new_id = await draft_store.create(
            conn, alert_id=row.alert_id, kind=row.kind, hazard=row.hazard, level=row.level, group_key=row.group_key,
            exercise=row.exercise, created_by="system", at=now, expires_at=row.expires_at, items=items,
            parent_draft_id=row.parent_draft_id, stage=row.stage)
        await audit.append(conn, at=now, actor="system", action="draft.created", target=f"draft:{new_id}",
                           origin="pipeline", after={"reoffered_from": part.id, "combined": combined_id,
                                                     "rejected_by": by, "messages": len(items)})
        created.append(new_id)
    return created
