"""The public page (公众页面, no login): the warnings in force for the city and the latest advice, and the
all-clears of the last 24 hours — from the same published messages as the Atom and CAP feeds.

Made for the elderly on a poor connection: large type, high contrast, no script, one small inline
stylesheet, cached for a minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from alerts.channels.notice import Published, list_public
from alerts.store.tables import drafts
from alerts.web.auth import service
from alerts.web.console import render_page
from alerts.web.console_words import when
from alerts.web.public import FEED_CACHE, _config

routes = web.RouteTableDef()
ENDED_KINDS = ("all_clear",)
ENDED_STAGES = ("end", "withdraw", "expire")
WARNING_KINDS = ("warning", "update", "correction")
RECENT_ALL_CLEAR = timedelta(hours=24)


@dataclass
class Shown:
    item: Published
    townships: list[str]
    ended: bool


def _pick(items: list[Published]) -> Published:
    """One text per decision: the residents' SMS reads best aloud; a notice when there is no SMS."""
    return sorted(items, key=lambda p: (p.audience != "residents", p.channel != "sms", p.message_id))[0]


async def public_items(svc: Any) -> tuple[list[Shown], list[Shown], Shown | None]:
    config = _config_of(svc)
    now = svc.clock.now()
    async with svc.db.read() as conn:
        items = await list_public(conn, audiences=config.feed.public_audiences, kinds=config.feed.kinds,
                                  limit=max(config.feed.max_entries, 200), languages=config.feed.languages)
        ids = sorted({p.draft_id for p in items})
        groups = {int(r.id): r.group_key for r in await conn.execute(
            select(drafts.c.id, drafts.c.group_key).where(drafts.c.id.in_(ids)))} if ids else {}
    by_draft: dict[int, list[Published]] = {}
    for p in items:
        by_draft.setdefault(p.draft_id, []).append(p)
    latest_of_chain: dict[str, Published] = {}
    advice: Published | None = None
    for _draft_id, msgs in sorted(by_draft.items(), key=lambda kv: max(m.issued_at for m in kv[1]), reverse=True):
        chosen = _pick(msgs)
        if chosen.kind == "campaign" or chosen.kind == "policy":
            advice = advice or chosen
            continue
        latest_of_chain.setdefault(groups.get(chosen.draft_id, str(chosen.draft_id)), chosen)
    in_force: list[Shown] = []
    ended: list[Shown] = []
    for p in latest_of_chain.values():
        names = svc.areas.names(sorted(p.areas or [])) or [svc.areas.region_name]
        over = p.kind in ENDED_KINDS or (p.stage in ENDED_STAGES)
        if over:
            if now - p.issued_at <= RECENT_ALL_CLEAR:
                ended.append(Shown(p, names, True))
        elif p.kind in WARNING_KINDS and (p.expires_at is None or p.expires_at > now):
            in_force.append(Shown(p, names, False))
    rank = {"red": 0, "orange": 1, "yellow": 2, "blue": 3}
    in_force.sort(key=lambda s: (rank.get(s.item.level or "", 9), -s.item.issued_at.timestamp()))
    return in_force, ended, (Shown(advice, [], False) if advice else None)


def _config_of(svc: Any) -> Any:
    from alerts.settings.notices import notices_config

    return notices_config(svc.settings)


@routes.get("/public")
async def public_page(request: web.Request) -> web.Response:
    svc = service(request)
    in_force, ended, advice = await public_items(svc)
    now = svc.clock.now()
    response = render_page(request, "public.html", None, in_force=in_force, ended=ended, advice=advice,
                           when=lambda dt: when(dt, now), updated=when(now, now),
                           region=svc.areas.region_name, feed_title=_config(request).feed.title)
    response.headers["Cache-Control"] = FEED_CACHE
    return response
