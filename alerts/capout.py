"""CAP 1.2 out: an approved message (with its source alert) as an OASIS CAP 1.2 alert for the media centre.

`cap_alert` builds the outgoing `Alert` (our own message: our identifier and sender, pointing at
the official warning through <references>); `to_xml` writes it in the schema's element order.
`alerts.feeds.cap.parse_alert` reads the output back to the same alert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree

from alerts.channels.notice import Published, hazard_name
from alerts.clock import SHANGHAI
from alerts.model import Alert, Area, Geocode, Info, Level

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


def cap_time(dt: datetime) -> str:
    """CAP 1.2 dateTime: local time with its offset and no fractions, e.g. 2026-07-12T05:40:00+08:00."""
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S%z").replace("+0800", "+08:00")


def _second(dt: datetime | None) -> datetime | None:
    return dt.astimezone(SHANGHAI).replace(microsecond=0) if dt is not None else None


def _pick(value: str, allowed: tuple[str, ...], fallback: str) -> str:
    return value if value in allowed else fallback


def cap_alert(p: Published, *, sender: str, issuer: str, region_code: str, area_names: dict[str, str],
              web_base: str = "") -> Alert:
    """The outgoing CAP alert for one message; our identifier, the official warning as reference."""
    source = p.alert.primary_info() if p.alert else None
    level = Level(p.level) if p.level else None
    sent = _second(p.issued_at)
    assert sent is not None
    references: list[tuple[str, str, str]] = []
    if p.alert is not None:
        references.append((p.alert.sender, p.alert.identifier, cap_time(p.alert.sent)))
    categories = [c for c in (source.categories if source else []) if c in CATEGORIES] or (
        ["Met"] if p.hazard else ["Safety"])
    geocodes = [Geocode(name=GEOCODE_NAME, value=code.ljust(12, "0")) for code in p.areas if code.isdigit()]
    area = Area(desc="、".join(area_names.get(c, c) for c in p.areas) or region_code, geocodes=geocodes)
    info = Info(
        language="en-US" if p.language.startswith("en") else "zh-CN",
        categories=categories,
        event=hazard_name(p.hazard) or (source.event if source and source.event else "应急科普"),
        urgency=_pick(source.urgency if source else "", URGENCIES, "Expected" if p.kind != "all_clear" else "Past"),
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
    note = f"应急科普提示，依据{p.source}发布的预警编写；预警以其发布为准。" if p.source else "应急科普提示。"
    return Alert(identifier=f"{region_code}-kepu-{p.message_id}", sender=sender, sent=sent,
                 status="Exercise" if p.exercise else "Actual", msg_type=MSG_TYPE.get(p.kind, "Alert"),
                 scope="Public", note=note, references=references, infos=[info], format="cap1.2")


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{NS}}}{name}")
    if text is not None:
        el.text = text
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
