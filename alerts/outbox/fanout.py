"""Fan-out: resolve recipients for each approved message and write one delivery row each.

Runs inside the approval's transaction, so an approval and its deliveries commit together.
Rows are written set-based (INSERT ... SELECT) so a city-wide red warning stays fast.

Suppression is for duplicates, never for news: opted-out residents get nothing; nobody gets the
same text of a chain twice, nor two texts of one draft. Each message reaches whom its chain stage
says (messages.reach, alerts/chain.py): `all` inside its areas; `chain` only those the chain
reached before (inside the areas for a change, wherever they are for an all-clear or a
withdrawal); `new` only those inside whom the chain has not reached. Campaigns respect a
per-recipient weekly cap and wait out quiet hours (rows are written, due when the window ends).
Warnings never wait for quiet hours; below red, a resident past the hourly warning budget
(chains.yaml combine.per_resident_per_hour) gets lower levels an hour later. A red is never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, and_, case, cast, exists, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.model import level_rank
from alerts.recipients import normalise_phone
from alerts.settings.channels import CampaignsSection
from alerts.store.tables import (
    contacts,
    deliveries,
    drafts,
    message_chains,
    messages,
    organisations,
    residents,
)

# Which organisation kinds each audience reaches.
ORG_AUDIENCES: dict[str, tuple[str, ...]] = {
    "schools": ("school",),
    "enterprises": ("enterprise", "coal_mine"),
    "villages": ("village",),
    "communities": ("community",),
    # 五进: families (through 妇联's contacts) and 科技志愿服务队; newsrooms for rumour responses (alerts/events).
    "families": ("family",),
    "volunteers": ("volunteer_team",),
    "media": ("media",),
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
REACHED_DRAFT_STATES = ("dispatching", "sent", "partly_failed")
WARNING_KINDS = ("warning", "update")
ENDING_STAGES = ("end", "withdraw")


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

    chain_messages: list[tuple[int, str]]  # (id, text) of the chain's messages that went out before
    campaign_message_ids: list[int]  # other campaign messages of the last 7 days (for the cap)
    cap: int
    next_attempt_at: datetime
    ending: bool = False  # an all-clear or withdrawal: reaches the chain's people wherever they are now
    budget: int = 0  # warning SMS per resident per hour before this (non-red) draft waits
    budget_until: datetime | None = None
    recent_warning_ids: list[int] | None = None  # warning messages that went out within the hour

    def chain_ids(self) -> list[int]:
        return [i for i, _t in self.chain_messages]

    def same_text(self, text: str) -> list[int]:
        return [i for i, t in self.chain_messages if t == text]


async def chain_messages(conn: AsyncConnection, group_keys: list[str], exclude_draft: int) -> list[tuple[int, str]]:
    """Messages that went out for these chains: their drafts' own, and combined ones that spoke for them."""
    if not group_keys:
        return []
    own = (select(messages.c.id, messages.c.text).join(drafts, drafts.c.id == messages.c.draft_id)
           .where(and_(drafts.c.group_key.in_(group_keys), drafts.c.id != exclude_draft,
                       drafts.c.state.in_(REACHED_DRAFT_STATES))))
    linked = (select(messages.c.id, messages.c.text).join(drafts, drafts.c.id == messages.c.draft_id)
              .join(message_chains, message_chains.c.message_id == messages.c.id)
              .where(and_(message_chains.c.group_key.in_(group_keys), drafts.c.id != exclude_draft,
                          drafts.c.state.in_(REACHED_DRAFT_STATES))))
    found = {int(r.id): r.text for r in await conn.execute(own)}
    found.update({int(r.id): r.text for r in await conn.execute(linked)})
    return sorted(found.items())


async def chains_of(conn: AsyncConnection, draft: Any, msgs: list[Any]) -> list[str]:
    """The chains a draft speaks for: its own group, and those its messages are linked to (combined)."""
    keys = {draft.group_key} if str(draft.group_key).startswith("chain:") else set()
    ids = [m.id for m in msgs]
    if ids:
        rows = await conn.execute(select(message_chains.c.group_key).where(message_chains.c.message_id.in_(ids)))
        keys.update(r.group_key for r in rows)
    return sorted(keys)


async def _rules(conn: AsyncConnection, draft: Any, msgs: list[Any], now: datetime, campaigns: CampaignsSection,
                 budget: int) -> Rules:
    earlier: list[tuple[int, str]] = []
    if draft.kind != "campaign":
        earlier = await chain_messages(conn, await chains_of(conn, draft, msgs), draft.id)
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
    ending = draft.kind == "all_clear" or getattr(draft, "stage", None) in ENDING_STAGES
    held = budget if draft.kind in WARNING_KINDS and draft.level != "red" and not draft.exercise else 0
    recent: list[int] = []
    if held:
        rows = await conn.execute(
            select(messages.c.id).join(drafts, drafts.c.id == messages.c.draft_id)
            .where(and_(drafts.c.kind.in_(WARNING_KINDS), drafts.c.id != draft.id, messages.c.channel == "sms",
                        drafts.c.state.in_(REACHED_DRAFT_STATES), drafts.c.decided_at >= now - timedelta(hours=1))))
        recent = [r.id for r in rows]
    return Rules(earlier, campaign_ids, cap, due, ending=ending, budget=held if len(recent) >= held else 0,
                 budget_until=now + timedelta(hours=1) if held else None, recent_warning_ids=recent)


async def fan_out(conn: AsyncConnection, draft: Any, msgs: list[Any], *, now: datetime,
                  test_phones: list[str], campaigns: CampaignsSection | None = None,
                  warning_budget: int = 0, residents_window: tuple[int, int] | None = None,
                  organisations: bool = True, voice_min_level: str | None = None) -> FanoutResult:
    """Write the draft's deliveries. `warning_budget`: warning SMS per resident per hour (0: none).
    `residents_window` (first, last resident id) writes one slice of a large fan-out (alerts/outbox/
    slices.py writes the rest after the approval commits); `organisations=False` for the later slices.
    `voice_min_level`: residents flagged for calls are called for warnings from this level (None: no
    voice channel); calls are few, so they are written whole with the first slice."""
    campaigns = campaigns or CampaignsSection()
    prio = priority(draft.level, draft.kind)
    expires = draft.expires_at
    rules = await _rules(conn, draft, msgs, now, campaigns, warning_budget)
    by_message: dict[int, int] = {}
    has_english = {(m.audience, _reach(m)) for m in msgs if m.language == "en"}
    im_audiences = {m.audience for m in msgs if m.channel == "im"}
    # The more specific audience first, so an elderly resident gets the elderly text, once.
    done: list[int] = []
    called: list[int] = []
    drilled: set[str] = set()
    for m in sorted(msgs, key=lambda m: (0 if m.audience == "elderly" else 1, m.id)):
        if m.channel == "voice":
            # The spoken version: a call to residents flagged for voice, at warning levels from
            # voice_min_level (its broadcast package is made apart, alerts/broadcast/).
            count = 0
            if calls_for(draft, m, voice_min_level, rules) and organisations:
                count = await _to_residents(conn, m, prio, now, expires, rules, same_draft=called,
                                            english_exists=False, channel="voice")
                called.append(m.id)
            by_message[m.id] = count
            continue
        if draft.exercise:
            # The drill team gets each audience's SMS once (not also its English version).
            first = m.channel == "sms" and m.audience not in drilled
            if first:
                drilled.add(m.audience)
            count = await _to_phones(conn, m, test_phones, prio, rules.next_attempt_at, now, expires) if first else 0
        elif m.audience in ("residents", "elderly"):
            count = await _to_residents(conn, m, prio, now, expires, rules, same_draft=done,
                                        english_exists=(m.audience, _reach(m)) in has_english,
                                        window=residents_window)
        elif m.audience in ORG_AUDIENCES and not organisations:
            count = 0
        elif m.audience in ORG_AUDIENCES:
            count = await _to_organisations(conn, m, contact_channels(m.channel, m.audience, im_audiences), prio,
                                            rules, now, expires)
        else:
            count = 0
        by_message[m.id] = count
        if m.channel == "sms":
            done.append(m.id)
    deferred = rules.next_attempt_at if rules.next_attempt_at > now else None
    # A slice of a large fan-out may hold nobody of the area: slices.py reports once the whole is written.
    if residents_window is None and nobody_reached(draft, sum(by_message.values())):
        await report_nobody(conn, draft, msgs, now)
    return FanoutResult(deliveries=sum(by_message.values()), by_message=by_message, deferred_until=deferred)


def calls_for(draft: Any, m: Any, voice_min_level: str | None, rules: Rules) -> bool:
    """A spoken text is a call for a warning at or above the voice level (never a drill, a campaign or
    an all-clear: those are not worth waking someone)."""
    return (voice_min_level is not None and not draft.exercise and draft.kind in WARNING_KINDS
            and not rules.ending and m.audience in ("residents", "elderly")
            and level_rank(draft.level) >= level_rank(voice_min_level))


def nobody_reached(draft: Any, deliveries_written: int) -> bool:
    """An approved warning that wrote no delivery at all: an operator must hear of it."""
    return not draft.exercise and draft.kind in ("warning", "update") and not deliveries_written


async def report_nobody(conn: AsyncConnection, draft: Any, msgs: list[Any], now: datetime) -> None:
    """An approved warning that reaches nobody is an operator problem, never only a log line."""
    from alerts.store import problems

    areas = sorted({a for m in msgs for a in (m.areas or [])})
    await problems.report(
        conn, key=f"draft:{draft.id}:no_recipients", kind="no_recipients", severity="critical",
        subject=f"draft:{draft.id}", at=now,
        what=f"已批准的预警科普消息（草稿 {draft.id}，{draft.hazard or '未知灾种'} {draft.level or ''}）没有送达任何人",
        why=(f"覆盖区域 {', '.join(areas) or '（无）'} 内没有登记的居民或单位联系人，或他们已退订、已收到同样内容"),
        todo="核对居民和单位名单（alerts recipients import / organisations import）及 areas.yaml 的乡镇代码；"
             "必要时通过其他渠道（广播、电话）通知相关乡镇")


def _reach(m: Any) -> str:
    return str(getattr(m, "reach", None) or "all")


def _reached_by(ids: list[int], key: Any) -> Any:
    """A recipient key with a live delivery of one of these messages: one probe of the unique index each."""
    return exists(select(literal(1)).where(and_(
        deliveries.c.message_id.in_(ids), deliveries.c.recipient_key == key,
        deliveries.c.state.in_(REACHED_STATES))))


async def _to_residents(conn: AsyncConnection, m: Any, prio: int, now: datetime, expires: datetime | None,
                        rules: Rules, *, same_draft: list[int], english_exists: bool,
                        window: tuple[int, int] | None = None, channel: str = "sms") -> int:
    if m.channel != channel:
        return 0
    key = literal("r:") + cast(residents.c.id, String)
    reach = _reach(m)
    conditions = [residents.c.status == "active"]
    if channel == "voice":
        conditions.append(residents.c.voice.is_(True))
    if not (reach == "chain" and rules.ending):
        conditions.append(residents.c.area.in_(list(m.areas or [])))
    if window is not None:
        conditions.append(residents.c.id.between(window[0], window[1]))
    if m.audience == "elderly":
        conditions.append(or_(residents.c.groups == "elderly", residents.c.groups.like("%elderly%")))
    if m.language == "en":
        conditions.append(residents.c.language == "en")
    elif english_exists:
        conditions.append(residents.c.language != "en")
    chain_ids = rules.chain_ids()
    if reach == "chain":
        if not chain_ids:
            return 0
        conditions.append(_reached_by(chain_ids, key))
    elif reach == "new" and chain_ids:
        conditions.append(~_reached_by(chain_ids, key))
    # Duplicates only: the same text of this chain again, or a second text of this draft.
    seen = rules.same_text(m.text) + same_draft
    if seen:
        conditions.append(~_reached_by(seen, key))
    if rules.cap and rules.campaign_message_ids:
        received = (select(func.count()).where(and_(
            deliveries.c.message_id.in_(rules.campaign_message_ids), deliveries.c.recipient_key == key,
            deliveries.c.channel == "sms", deliveries.c.state.in_(REACHED_STATES)))).scalar_subquery()
        conditions.append(received < rules.cap)
    due: Any = literal(rules.next_attempt_at, deliveries.c.next_attempt_at.type)
    if rules.budget and rules.budget_until is not None:
        due = case((_warnings_last_hour(key, now, rules.recent_warning_ids or []) >= rules.budget,
                    literal(rules.budget_until, deliveries.c.next_attempt_at.type)), else_=due)
    source = select(
        literal(m.id, Integer), key, literal(channel), residents.c.phone,
        literal(prio, Integer), literal("queued"), literal(0, Integer), literal(False), due,
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


def _warnings_last_hour(key: Any, now: datetime, message_ids: list[int]) -> Any:
    """How many warning SMS this resident was sent (or has queued) in the last hour: one probe of the
    unique (message, recipient) index per recent warning message, never a scan."""
    return (select(func.count()).where(and_(
        deliveries.c.message_id.in_(message_ids), deliveries.c.recipient_key == key,
        deliveries.c.state.in_(REACHED_STATES), deliveries.c.created_at >= now - timedelta(hours=1))))\
        .scalar_subquery()


async def _to_organisations(conn: AsyncConnection, m: Any, channels: tuple[str, ...], prio: int, rules: Rules,
                            now: datetime, expires: datetime | None) -> int:
    kinds = ORG_AUDIENCES[m.audience]
    rows = list(await conn.execute(
        select(contacts.c.id, contacts.c.channel)
        .join(organisations, organisations.c.id == contacts.c.organisation_id)
        .where(and_(organisations.c.kind.in_(kinds), organisations.c.status == "active",
                    organisations.c.area.in_(list(m.areas or [])), contacts.c.channel.in_(channels)))
    ))
    targets = [(f"c:{r.id}", r.channel, f"contact:{r.id}") for r in rows]
    reach = _reach(m)
    reached = await _keys_reached(conn, rules.chain_ids()) if reach in ("chain", "new") else set()
    duplicate = await _keys_reached(conn, rules.same_text(m.text))
    targets = [t for t in targets if t[0] not in duplicate
               and (reach == "all" or (t[0] in reached) == (reach == "chain"))]
    return await _insert_rows(conn, m, targets, prio, rules.next_attempt_at, now, expires)


async def _keys_reached(conn: AsyncConnection, message_ids: list[int]) -> set[str]:
    if not message_ids:
        return set()
    rows = await conn.execute(select(deliveries.c.recipient_key).where(and_(
        deliveries.c.message_id.in_(message_ids), deliveries.c.state.in_(REACHED_STATES))))
    return {r.recipient_key for r in rows}


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


async def count_for_draft(conn: AsyncConnection, draft_id: int, *, channel: str | None = None) -> dict[str, int]:
    """Deliveries of a draft by state (of one delivery channel, when given)."""
    where = messages.c.draft_id == draft_id
    if channel is not None:
        where = and_(where, deliveries.c.channel == channel)
    rows = await conn.execute(
        select(deliveries.c.state, func.count())
        .join(messages, messages.c.id == deliveries.c.message_id)
        .where(where)
        .group_by(deliveries.c.state)
    )
    return {r[0]: int(r[1]) for r in rows}
