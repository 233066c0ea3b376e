"""CAP 1.2 out: an approved message (with its source alert) as an OASIS CAP 1.2 alert for the media centre.

`cap_alert` builds the outgoing `Alert`: our own message, with our identifier and sender. A
downstream system can follow the chain only through what it saw from us, so an Update or Cancel
references OUR earlier published messages of the chain (`our_references`: sender, identifier and
sent as we published them), never the source agency's message, which is named in <note>. The
source's polygons and circles are kept beside our township geocodes; an all-clear is a Cancel with
responseType AllClear. `to_xml` writes it in the schema's element order, dropping any character
XML 1.0 cannot carry (a stored text must never break the feed). `alerts.feeds.cap.parse_alert`
reads the output back to the same alert; `alerts.capsign` signs it when a key is configured.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.channels.notice import APPROVED_STATES, Published, hazard_name
from alerts.clock import SHANGHAI
from alerts.model import Alert, Area, Geocode, Info, Level
from alerts.store.tables import drafts, message_chains, messages
from alerts.textclean import clean

NS = "urn:oasis:names:tc:emergency:cap:1.2"
GEOCODE_NAME = "CPEAS Geographic Code"
CATEGORIES = ("Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
              "CBRNE", "Other")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
LEVEL_SEVERITY = {Level.blue: "Minor", Level.yellow: "Moderate", Level.orange: "Severe", Level.red: "Extreme"}
MSG_TYPE = {"warning": "Alert", "campaign": "Alert", "update": "Update", "correction": "Update",
            "all_clear": "Cancel"}


def our_identifier(region_code: str, message_id: int) -> str:
    return f"{region_code}-kepu-{message_id}"


async def our_references(conn: AsyncConnection, p: Published, *, sender: str, region_code: str,
                         kinds: list[str]) -> list[tuple[str, str, str]]:
    """(sender, identifier, sent) of what we published earlier in the same chain(s) for the same audience
    and language, oldest first: what an Update or Cancel of ours must reference."""
    draft = (await conn.execute(select(drafts.c.group_key).where(drafts.c.id == p.draft_id))).first()
    if draft is None:
        return []
    keys = {draft.group_key} if str(draft.group_key).startswith("chain:") else set()
    keys.update(r.group_key for r in await conn.execute(
        select(message_chains.c.group_key).where(message_chains.c.message_id == p.message_id)))
    if not keys:
        return []
    linked = select(message_chains.c.message_id).where(message_chains.c.group_key.in_(keys))
    rows = await conn.execute(
        select(messages.c.id, drafts.c.decided_at, drafts.c.created_at)
        .join(drafts, drafts.c.id == messages.c.draft_id)
        .where(and_(or_(drafts.c.group_key.in_(keys), messages.c.id.in_(linked)),
                    drafts.c.state.in_(APPROVED_STATES), drafts.c.exercise.is_(False),
                    drafts.c.kind.in_(kinds), messages.c.audience == p.audience,
                    messages.c.language == p.language, messages.c.id != p.message_id))
        .order_by(drafts.c.decided_at, messages.c.id))
    return [(sender, our_identifier(region_code, int(r.id)), cap_time(r.decided_at or r.created_at))
            for r in rows if (r.decided_at or r.created_at) <= p.issued_at]


def cap_time(dt: datetime) -> str:
    """CAP 1.2 dateTime: local time with its offset and no fractions, e.g. 2026-07-12T05:40:00+08:00."""
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S%z").replace("+0800", "+08:00")


def _second(dt: datetime | None) -> datetime | None:
    return dt.astimezone(SHANGHAI).replace(microsecond=0) if dt is not None else None


def _pick(value: str, allowed: tuple[str, ...], fallback: str) -> str:
    return value if value in allowed else fallback


def cap_alert(p: Published, *, sender: str, issuer: str, region_code: str, area_names: dict[str, str],
              web_base: str = "", earlier: list[tuple[str, str, str]] | None = None) -> Alert:
    """The outgoing CAP alert for one message. `earlier`: our own earlier messages of its chain
    (`our_references`); an Update or Cancel references them, a first message references nothing."""
    source = p.alert.primary_info() if p.alert else None
    level = Level(p.level) if p.level else None
    sent = _second(p.issued_at)
    assert sent is not None
    references = list(earlier or [])
    ending = p.kind == "all_clear"
    msg_type = MSG_TYPE.get(p.kind, "Alert") if references else "Alert"
    categories = [c for c in (source.categories if source else []) if c in CATEGORIES] or (
        ["Met"] if p.hazard else ["Safety"])
    geocodes = [Geocode(name=GEOCODE_NAME, value=code.ljust(12, "0")) for code in p.areas if code.isdigit()]
    # The source's own shapes travel with our township codes, so a map downstream shows the same area.
    shapes = [a for a in (source.areas if source else [])]
    area = Area(desc="、".join(area_names.get(c, c) for c in p.areas) or region_code, geocodes=geocodes,
                polygons=[poly for a in shapes for poly in a.polygons], circles=[c for a in shapes for c in a.circles])
    withdrawn = p.stage == "withdraw"
    info = Info(
        language="en-US" if p.language.startswith("en") else "zh-CN",
        categories=categories,
        event=hazard_name(p.hazard) or (source.event if source and source.event else "应急科普"),
        # An all-clear tells people they may stop acting (CAP 1.2 responseType AllClear); a withdrawal
        # of a warning issued in error asks for nothing.
        response_types=(["None"] if withdrawn else ["AllClear"]) if ending else [],
        urgency=_pick(source.urgency if source else "", URGENCIES, "Expected") if not ending else "Past",
        severity=LEVEL_SEVERITY[level] if level else _pick(source.severity if source else "", SEVERITIES, "Unknown"),
        certainty=_pick(source.certainty if source else "", CERTAINTIES, "Likely" if source else "Unknown"),
        event_codes=list(source.event_codes) if source else [],
        effective=sent,
        expires=_second(p.expires_at),
        sender_name=issuer,
        headline=p.title,
        description=p.text,
        web=f"{web_base.rstrip('/')}/notices/{p.message_id}" if web_base else "",
        areas=[area],
        hazard=p.hazard,
        level=level,
    )
    official = f"（{p.alert.identifier}）" if p.alert is not None else ""
    note = f"应急科普提示，依据{p.source}发布的预警{official}编写；预警以其发布为准。" if p.source else "应急科普提示。"
    if withdrawn:
        note = "撤回：此前转发的预警系误发，已由发布单位撤回。" + note
    return Alert(identifier=our_identifier(region_code, p.message_id), sender=sender, sent=sent,
                 status="Exercise" if p.exercise else "Actual", msg_type=msg_type,
                 scope="Public", note=note, references=references, infos=[info], format="cap1.2")


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        # XML 1.0 cannot carry control characters; one in a stored text must not break the feed.
        el.text = clean(text)
    return el


def _pairs(parent: etree._Element, name: str, pairs: list[Geocode]) -> None:
    for pair in pairs:
        el = _sub(parent, name)
        _sub(el, "valueName", pair.name)
        _sub(el, "value", pair.value)


def to_xml(alert: Alert) -> bytes:
    """CAP 1.2 XML in the schema's element order; optional elements only when they have a value."""
    root = etree.Element(f"{{{NS}}}alert", nsmap={None: NS})
    for name, value in (("identifier", alert.identifier), ("sender", alert.sender), ("sent", cap_time(alert.sent)),
                        ("status", alert.status), ("msgType", alert.msg_type), ("source", alert.source),
                        ("scope", alert.scope), ("restriction", alert.restriction),
                        ("addresses", alert.addresses)):
        if value or name in ("identifier", "sender", "sent", "status", "msgType", "scope"):
            _sub(root, name, value)
    for code in alert.codes:
        _sub(root, "code", code)
    if alert.note:
        _sub(root, "note", alert.note)
    if alert.references:
        _sub(root, "references", " ".join(",".join(ref) for ref in alert.references))
    if alert.incidents:
        _sub(root, "incidents", alert.incidents)
    for info in alert.infos:
        _info(root, info)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _info(root: etree._Element, info: Info) -> None:
    el = _sub(root, "info")
    _sub(el, "language", info.language)
    for category in info.categories:
        _sub(el, "category", category)
    _sub(el, "event", info.event)
    for response in info.response_types:
        _sub(el, "responseType", response)
    _sub(el, "urgency", info.urgency)
    _sub(el, "severity", info.severity)
    _sub(el, "certainty", info.certainty)
    if info.audience:
        _sub(el, "audience", info.audience)
    _pairs(el, "eventCode", info.event_codes)
    for name in ("effective", "onset", "expires"):
        value: Any = getattr(info, name)
        if value is not None:
            _sub(el, name, cap_time(value))
    for name, value in (("senderName", info.sender_name), ("headline", info.headline),
                        ("description", info.description), ("instruction", info.instruction), ("web", info.web),
                        ("contact", info.contact)):
        if value:
            _sub(el, name, value)
    _pairs(el, "parameter", info.parameters)
    for area in info.areas:
        a = _sub(el, "area")
        _sub(a, "areaDesc", area.desc)
        for polygon in area.polygons:
            _sub(a, "polygon", " ".join(f"{lat},{lon}" for lat, lon in polygon))
        for circle in area.circles:
            _sub(a, "circle", f"{circle.lat},{circle.lon} {circle.radius_km}")
        _pairs(a, "geocode", area.geocodes)
