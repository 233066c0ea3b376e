"""CAP 1.0/1.1/1.2 and the GB/T 35965.1 national profile: untrusted bytes in, a normalised `Alert` out."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from lxml import etree
from pydantic import ValidationError

from alerts.feeds import gbt
from alerts.feeds.capvalues import parse_circle, parse_number, parse_polygon, parse_references, parse_time
from alerts.feeds.safexml import DEFAULT_LIMITS, ParseLimits, Rejected, element_text, parse_xml
from alerts.model import Alert

__all__ = ["DEFAULT_LIMITS", "NAMESPACES", "ParseLimits", "Rejected", "parse_alert", "read_alert"]

NAMESPACES: dict[str, str] = {
    "urn:oasis:names:tc:emergency:cap:1.2": "cap1.2",
    "urn:oasis:names:tc:emergency:cap:1.1": "cap1.1",
    "http://www.incident.com/cap/1.0": "cap1.0",
}

_STATUSES = ("Actual", "Exercise", "System", "Test", "Draft")
_MSG_TYPES = ("Alert", "Update", "Cancel", "Ack", "Error")
_SCOPES = ("Public", "Restricted", "Private")

# Single-valued alert elements: local name -> Alert field. sendTime/senderCode are the
# national profile's names; senderCode only stands in when <sender> is missing.
_ALERT_TEXT = {
    "identifier": "identifier",
    "sender": "sender",
    "senderCode": "sender_code",
    "sent": "sent",
    "sendTime": "sent",
    "status": "status",
    "msgType": "msg_type",
    "source": "source",
    "scope": "scope",
    "restriction": "restriction",
    "addresses": "addresses",
    "note": "note",
    "references": "references",
    "incidents": "incidents",
}
_REQUIRED = (("identifier", "identifier"), ("sender", "sender"), ("sent", "sent"),
             ("status", "status"), ("msg_type", "msgType"), ("scope", "scope"))

_INFO_TEXT = {
    "language": "language",
    "event": "event",
    "urgency": "urgency",
    "severity": "severity",
    "certainty": "certainty",
    "audience": "audience",
    "senderName": "sender_name",
    "headline": "headline",
    "description": "description",
    "instruction": "instruction",
    "web": "web",
    "contact": "contact",
}
_INFO_TIMES = ("effective", "onset", "expires")

_FORBIDDEN_IN_ID = re.compile(r"[\s,]")


def parse_alert(data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS) -> Alert:
    """Parse one CAP or national-profile document; raise Rejected with a reason for anything wrong."""
    return read_alert(parse_xml(data, limits), limits)


def read_alert(root: etree._Element, limits: ParseLimits = DEFAULT_LIMITS) -> Alert:
    """Read an already safely parsed `<alert>` element (e.g. one embedded in a feed entry)."""
    tag = root.tag
    if not isinstance(tag, str):
        raise Rejected("not a CAP alert: no root element")
    namespace, _, local = tag[1:].rpartition("}") if tag.startswith("{") else ("", "", tag)
    if local != "alert":
        shown = f"{{{namespace}}}{local}" if namespace else local
        raise Rejected(f"not a CAP alert: the root element is <{shown}>, expected <alert>")
    if namespace:
        fmt = NAMESPACES.get(namespace)
        if fmt is None:
            raise Rejected(
                f"unknown namespace {namespace!r} on <alert>: expected CAP 1.0, 1.1 or 1.2, "
                "or no namespace (national profile)"
            )
    else:
        fmt = gbt.FORMAT
    return _Reader(namespace, fmt, limits).alert(root)


def _one_of(value: str, allowed: tuple[str, ...], element: str, words: dict[str, str]) -> str:
    for option in allowed:
        if value.lower() == option.lower():
            return option
    if value in words:
        return words[value]
    raise Rejected(f"<{element}> is {value!r}; expected one of {', '.join(allowed)}")


# Every element name the reader acts on; anything else is an extension and is skipped.
_KNOWN = frozenset({
    *_ALERT_TEXT, "info", "code", *_INFO_TEXT, *_INFO_TIMES, "category", "responseType", "eventCode",
    "eventType", "parameter", "resource", "area", "valueName", "value", "resourceDesc", "mimeType",
    "size", "uri", "digest", "areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling",
    "method", "methodName", "message", "audienceGrp",
})


@functools.cache
def _tag_table(namespace: str) -> dict[str, str]:
    """Full tag -> local name for the known names, in the alert's namespace and in none.

    One dict lookup per element replaces namespace splitting, the parser's hottest step;
    elements without a namespace inside a namespaced alert are accepted, as feeds produce them.
    """
    table = {name: name for name in _KNOWN}
    if namespace:
        table.update({f"{{{namespace}}}{name}": name for name in _KNOWN})
    return table


class _Reader:
    """Walks one alert element; counts what the limits bound while it goes."""

    def __init__(self, namespace: str, fmt: str, limits: ParseLimits) -> None:
        self.tags = _tag_table(namespace)
        self.fmt = fmt
        self.limits = limits
        self.areas = 0
        self.points = 0
        self.geocodes = 0

    def local(self, el: etree._Element) -> str | None:
        """Local name of a known element in the alert's namespace or in none; None for anything else."""
        return self.tags.get(el.tag)

    # -- values ------------------------------------------------------------------------------

    def time(self, value: str, element: str) -> datetime:
        # The national profile writes Beijing time; a missing offset can only mean that there.
        return parse_time(value, element, gbt.CHINA_TIME if self.fmt == gbt.FORMAT else None)

    def pair(self, el: etree._Element) -> dict[str, str]:
        """A (valueName, value) pair; CAP 1.0 writes "valueName=value", the national profile a bare value."""
        if len(el):
            name = value = ""
            for child in el:
                part = self.local(child)
                if part == "valueName":
                    name = element_text(child)
                elif part == "value":
                    value = element_text(child)
            return {"name": name, "value": value}
        text = element_text(el)
        if self.fmt == "cap1.0" and "=" in text:
            name, _, value = text.partition("=")
            return {"name": name.strip(), "value": value.strip()}
        return {"name": "", "value": text}

    # -- elements ----------------------------------------------------------------------------

    def alert(self, root: etree._Element) -> Alert:
        fields: dict[str, Any] = {}
        codes: list[str] = []
        info_elements: list[etree._Element] = []
        method_texts: dict[str, str] = {}
        method_params: list[dict[str, str]] = []
        for child in root:
            name = self.local(child)
            if name is None:
                continue
            if name == "info":
                info_elements.append(child)
            elif name == "code":
                if len(child):  # the national profile's code/method block
                    texts, params = gbt.read_method_block(child, self.local)
                    method_texts.update(texts)
                    method_params.extend(params)
                else:
                    code = element_text(child)
                    if code:
                        codes.append(code)
            elif name in _ALERT_TEXT:
                key = _ALERT_TEXT[name]
                if key in fields:
                    raise Rejected(f"<{name}> appears more than once (or together with its alias)")
                fields[key] = element_text(child)

        sender_code = fields.pop("sender_code", "")
        if not fields.get("sender") and sender_code:
            fields["sender"] = sender_code
        for key, element in _REQUIRED:
            if not fields.get(key):
                what = "empty" if key in fields else "missing"
                also = " (or <sendTime>)" if key == "sent" else " (or <senderCode>)" if key == "sender" else ""
                raise Rejected(f"required element <{element}>{also} is {what}")
        if _FORBIDDEN_IN_ID.search(fields["identifier"]):
            raise Rejected(f"<identifier> {fields['identifier']!r} contains whitespace or a comma, which CAP forbids")
        fields["sent"] = self.time(fields["sent"], "sent")
        fields["status"] = _one_of(fields["status"], _STATUSES, "status", gbt.STATUS_WORDS)
        fields["msg_type"] = _one_of(fields["msg_type"], _MSG_TYPES, "msgType", gbt.MSG_TYPE_WORDS)
        fields["scope"] = _one_of(fields["scope"], _SCOPES, "scope", {})
        fields["references"] = parse_references(fields.get("references", ""))
        fields["codes"] = codes
        fields["format"] = self.fmt

        if len(info_elements) > self.limits.max_infos:
            raise Rejected(f"alert has {len(info_elements)} <info> blocks, over the limit of {self.limits.max_infos}")
        infos = [self.info(el) for el in info_elements]
        for info in infos:
            # Channel texts belong to the whole message in the national profile; every language
            # block gets them so that whichever block is routed on still carries them.
            if method_texts:
                info["method_texts"] = {**method_texts, **info["method_texts"]}
            info["parameters"].extend(method_params)
        fields["infos"] = infos
        try:
            return Alert.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Rejected(f"alert does not fit the model at {where}: {first['msg']}") from None

    def info(self, el: etree._Element) -> dict[str, Any]:
        info: dict[str, Any] = {
            "categories": [], "response_types": [], "event_codes": [], "parameters": [],
            "resources": [], "areas": [], "method_texts": {},
        }
        for child in el:
            name = self.local(child)
            if name is None:
                continue
            if name in _INFO_TEXT:
                info[_INFO_TEXT[name]] = element_text(child)
            elif name in _INFO_TIMES:
                value = element_text(child)
                if value:
                    info[name] = self.time(value, name)
            elif name == "category":
                info["categories"].append(element_text(child))
            elif name == "responseType":
                info["response_types"].append(element_text(child))
            elif name == "eventCode":
                pair = self.pair(child)
                if pair["value"]:
                    info["event_codes"].append(pair)
            elif name == "eventType":  # the national profile's event code, e.g. 11B03
                value = element_text(child)
                if value:
                    info["event_codes"].append({"name": gbt.EVENT_TYPE_NAME, "value": value})
            elif name == "parameter":
                info["parameters"].append(self.pair(child))
            elif name == "resource":
                info["resources"].append(self.resource(child))
            elif name == "area":
                info["areas"].append(self.area(child))
            elif name == "code" and len(child):
                texts, params = gbt.read_method_block(child, self.local)
                info["method_texts"].update(texts)
                info["parameters"].extend(params)
        if not info.get("language"):
            info.pop("language", None)  # CAP's default, en-US, comes from the model
        return info

    def resource(self, el: etree._Element) -> dict[str, Any]:
        resource: dict[str, Any] = {}
        for child in el:
            name = self.local(child)
            if name == "resourceDesc":
                resource["desc"] = element_text(child)
            elif name == "mimeType":
                resource["mime_type"] = element_text(child)
            elif name == "uri":
                resource["uri"] = element_text(child)
            elif name == "digest":
                resource["digest"] = element_text(child)
            elif name == "size":
                text = element_text(child)
                if text:
                    if not (text.isascii() and text.isdigit() and len(text) <= 18):
                        raise Rejected(f"<size> of a resource is {text!r}; expected a whole number of bytes")
                    resource["size"] = int(text)
            # derefUri (inline base64 content) is deliberately dropped: metadata only.
        return resource

    def area(self, el: etree._Element) -> dict[str, Any]:
        self.areas += 1
        if self.areas > self.limits.max_areas:
            raise Rejected(f"alert has more than {self.limits.max_areas} <area> blocks")
        area: dict[str, Any] = {"polygons": [], "circles": [], "geocodes": []}
        for child in el:
            name = self.local(child)
            if name == "areaDesc":
                area["desc"] = element_text(child)
            elif name == "polygon":
                polygon = parse_polygon(element_text(child))
                if polygon:  # an empty <polygon/> is common in NWS messages and means none
                    self.points += len(polygon)
                    if self.points > self.limits.max_points:
                        raise Rejected(f"alert has more than {self.limits.max_points} polygon points")
                    area["polygons"].append(polygon)
            elif name == "circle":
                circle = parse_circle(element_text(child))
                if circle:
                    area["circles"].append(circle)
            elif name == "geocode":
                pair = self.pair(child)
                if pair["value"]:
                    self.geocodes += 1
                    if self.geocodes > self.limits.max_geocodes:
                        raise Rejected(f"alert has more than {self.limits.max_geocodes} geocodes")
                    area["geocodes"].append(pair)
            elif name in ("altitude", "ceiling"):
                text = element_text(child)
                if text:
                    area[name] = parse_number(text, name)
        return area
