"""Fan-out: resolve recipients for each approved message and write one delivery row each.

Runs inside the approval's transaction, so an approval and its deliveries commit together.
Rows are written set-based (INSERT ... SELECT) so a city-wide red warning stays fast.

Suppression: opted-out residents get nothing; a resident already reached in the same alert chain
at this or a higher level is not messaged again (nor twice by one draft); campaigns respect a
per-recipient weekly cap and wait out quiet hours (rows are written, due when the window ends).
Warnings never wait and are never capped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, and_, cast, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import level_rank
from alerts.recipients import normalise_phone
from alerts.settings.channels import CampaignsSection
from alerts.store.tables import contacts, deliveries, drafts, messages, organisations, residents

# Which organisation kinds each audience reaches.
ORG_AUDIENCES: dict[str, tuple[str, ...]] = {
    "schools": ("school",),
    "enterprises": ("enterprise", "coal_mine"),
    "villages": ("village",),
    "communities": ("community",),
}
# Which contact channels carry each message channel.
IM_CONTACTS = ("wecom", "dingtalk", "feishu", "webhook")
CONTACT_CHANNELS: dict[str, tuple[str, ...]] = {
    "sms": ("sms",),
    "notice": ("email", "notice"),
    "im": IM_CONTACTS,
    "email": ("email",),
}


def contact_channels(message_channel: str, audience: str, im_audiences: set[str]) -> tuple[str, ...]:
    """Which contact channels a message reaches. A group chat gets the short IM text when the draft
    has one for its audience, and otherwise the notice, so a school's WeCom group is never left out."""
    channels = CONTACT_CHANNELS.get(message_channel, ())
    if message_channel == "notice" and audience not in im_audiences:
        channels = channels + IM_CONTACTS
    return channels


REACHED_STATES = ("sent", "delivered", "in_flight", "queued")


@dataclass
class FanoutResult:
    deliveries: int
    by_message: dict[int, int]
    deferred_until: datetime | None = None


def priority(level: str | None, kind: str) -> int:
    """Higher levels first, then warnings before campaigns."""
    return (level_rank(level) + 2) * 10 + (0 if kind == "campaign" else 5)


def _insert(conn: AsyncConnection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(deliveries)


def quiet_hours_end(now: datetime, window: str, zone: str) -> datetime | None:
    """When `now` falls in the local window "HH:MM-HH:MM" (which may span midnight), its end (UTC-aware);
    otherwise None."""
    if not window:
        return None
    start_s, end_s = window.split("-")
    start = time.fromisoformat(start_s)
    end = time.fromisoformat(end_s)
    local = now.astimezone(ZoneInfo(zone))
    t = local.time().replace(tzinfo=None)
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if (start < end or t < end) else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=local.tzinfo).astimezone(now.tzinfo)


@dataclass
class Rules:
    """What suppression needs to know beyond the draft: earlier messages and campaign settings."""

    reached_message_ids: list[int]  # earlier messages of this chain at this or a higher level
    campaign_message_ids: list[int]  # other campaign messages of the last 7 days (for the cap)
    cap: int
    next_attempt_at: datetime


async def _rules(conn: AsyncConnection, draft: Any, now: datetime, campaigns: CampaignsSection) -> Rules:
    reached: list[int] = []
    if draft.kind != "all_clear":
        rows = await conn.execute(
            select(messages.c.id, drafts.c.level).join(drafts, drafts.c.id == messages.c.draft_id)
            .where(and_(drafts.c.group_key == draft.group_key, drafts.c.id != draft.id,
                        drafts.c.kind != "all_clear", drafts.c.state.in_(("dispatching", "sent", "partly_failed")))))
        reached = [r.id for r in rows if level_rank(r.level) >= level_rank(draft.level)]
    campaign_ids: list[int] = []
    cap = 0
    due = now
    if draft.kind == "campaign":
        cap = campaigns.max_per_recipient_per_week
        if cap:
            rows = await conn.execute(
                select(messages.c.id).join(drafts, drafts.c.id == messages.c.draft_id)
                .where(and_(drafts.c.kind == "campaign", drafts.c.id != draft.id,
                            drafts.c.decided_at >= now - timedelta(days=7))))
            campaign_ids = [r.id for r in rows]
        due = quiet_hours_end(now, campaigns.quiet_hours, campaigns.timezone) or now
    return Rules(reached, campaign_ids, cap, due)


async def fan_out(conn: AsyncConnection, draft: Any, msgs: list[Any], *, now: datetime,
                  test_phones: list[str], campaigns: CampaignsSection | None = None,
                  residents_window: tuple[int, int] | None = None, organisations: bool = True) -> FanoutResult:
    """`residents_window` (first, last resident id) writes one slice of a large fan-out (alerts/outbox/
    slices.py writes the rest after the approval commits); `organisations=False` for the later slices."""
    campaigns = campaigns or CampaignsSection()
    prio = priority(draft.level, draft.kind)
    expires = draft.expires_at
    rules = await _rules(conn, draft, now, campaigns)
    by_message: dict[int, int] = {}
    has_english = {m.audience for m in msgs if m.language == "en"}
    im_audiences = {m.audience for m in msgs if m.channel == "im"}
    # The more specific audience first, so an elderly resident gets the elderly text, once.
    done: list[int] = []
    drilled: set[str] = set()
    for m in sorted(msgs, key=lambda m: (0 if m.audience == "elderly" else 1, m.id)):
        if m.channel == "voice":
            continue  # read-out text for broadcasters; nothing is sent automatically
        if draft.exercise:
            # The drill team gets each audience's SMS once (not also its English version).
            first = m.channel == "sms" and m.audience not in drilled
            if first:
                drilled.add(m.audience)
            count = await _to_phones(conn, m, test_phones, prio, rules.next_attempt_at, now, expires) if first else 0
        elif m.audience in ("residents", "elderly"):
            count = await _to_residents(conn, draft, m, prio, now, expires, rules, same_draft=done,
                                        english_exists=m.audience in has_english, window=residents_window)
        elif m.audience in ORG_AUDIENCES and not organisations:
            count = 0
        elif m.audience in ORG_AUDIENCES:
            count = await _to_organisations(conn, m, contact_channels(m.channel, m.audience, im_audiences), prio,
                                            rules.next_attempt_at, now, expires)
        else:
            count = 0
        by_message[m.id] = count
        if m.channel == "sms":
            done.append(m.id)
    deferred = rules.next_attempt_at if rules.next_attempt_at > now else None
    return FanoutResult(deliveries=sum(by_message.values()), by_message=by_message, deferred_until=deferred)


async def _to_residents(conn: AsyncConnection, draft: Any, m: Any, prio: int, now: datetime,
                        expires: datetime | None, rules: Rules, *, same_draft: list[int], english_exists: bool,
                        window: tuple[int, int] | None = None) -> int:
    if m.channel != "sms":
        return 0
    key = literal("r:") + cast(residents.c.id, String)
    conditions = [residents.c.status == "active", residents.c.area.in_(list(m.areas or []))]
    if window is not None:
        conditions.append(residents.c.id.between(window[0], window[1]))
    if m.audience == "elderly":
        conditions.append(or_(residents.c.groups == "elderly", residents.c.groups.like("%elderly%")))
    if m.language == "en":
        conditions.append(residents.c.language == "en")
    elif english_exists:
        conditions.append(residents.c.language != "en")
    # Already reached in this chain at this or a higher level, or by another message of this draft.
    # Looked up through the unique (message, recipient, channel) index: one probe per message.
    seen = rules.reached_message_ids + same_draft
    if seen:
        conditions.append(~exists(select(literal(1)).where(and_(
            deliveries.c.message_id.in_(seen), deliveries.c.recipient_key == key, deliveries.c.channel == "sms",
            deliveries.c.state.in_(REACHED_STATES)))))
    if rules.cap and rules.campaign_message_ids:
        received = (select(func.count()).where(and_(
            deliveries.c.message_id.in_(rules.campaign_message_ids), deliveries.c.recipient_key == key,
            deliveries.c.channel == "sms", deliveries.c.state.in_(REACHED_STATES)))).scalar_subquery()
        conditions.append(received < rules.cap)
    source = select(
        literal(m.id, Integer), key, literal("sms"), residents.c.phone,
        literal(prio, Integer), literal("queued"), literal(0, Integer), literal(False),
        literal(rules.next_attempt_at, deliveries.c.next_attempt_at.type),
        literal(expires, deliveries.c.expires_at.type), literal(now, deliveries.c.created_at.type),
        literal(now, deliveries.c.updated_at.type), literal(""),
    ).where(and_(*conditions))
    stmt = _insert(conn).from_select(
        ["message_id", "recipient_key", "channel", "address", "priority", "state", "attempts", "in_doubt",
         "next_attempt_at", "expires_at", "created_at", "updated_at", "error"],
        source,
    ).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return int(result.rowcount or 0)


async def _to_organisations(conn: AsyncConnection, m: Any, channels: tuple[str, ...], prio: int, due: datetime,
                            now: datetime, expires: datetime | None) -> int:
    kinds = ORG_AUDIENCES[m.audience]
    rows = list(await conn.execute(
        select(contacts.c.id, contacts.c.channel)
        .join(organisations, organisations.c.id == contacts.c.organisation_id)
        .where(and_(organisations.c.kind.in_(kinds), organisations.c.status == "active",
                    organisations.c.area.in_(list(m.areas or [])), contacts.c.channel.in_(channels)))
    ))
    return await _insert_rows(conn, m, [(f"c:{r.id}", r.channel, f"contact:{r.id}") for r in rows], prio, due, now,
                              expires)


async def _to_phones(conn: AsyncConnection, m: Any, phones: list[str], prio: int, due: datetime, now: datetime,
                     expires: datetime | None) -> int:
    normal = [p for p in (normalise_phone(x) for x in phones) if p]
    return await _insert_rows(conn, m, [(f"p:{p}", "sms", p) for p in normal], prio, due, now, expires)


async def _insert_rows(conn: AsyncConnection, m: Any, targets: list[tuple[str, str, str]], prio: int,
                       due: datetime, now: datetime, expires: datetime | None) -> int:
    if not targets:
        return 0
    values = [
        dict(message_id=m.id, recipient_key=key, channel=channel, address=address, priority=prio, state="queued",
             attempts=0, in_doubt=False, next_attempt_at=due, expires_at=expires, created_at=now, updated_at=now,
             error="")
        for key, channel, address in targets
    ]
    result = await conn.execute(_insert(conn).on_conflict_do_nothing(), values)
    return int(result.rowcount or 0)


async def count_for_draft(conn: AsyncConnection, draft_id: int) -> dict[str, int]:
    rows = await conn.execute(
        select(deliveries.c.state, func.count())
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(messages.c.draft_id == draft_id)
        .group_by(deliveries.c.state)
    )
    return {r[0]: int(r[1]) for r in rows}
