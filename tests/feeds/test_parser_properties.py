"""Property tests: whatever bytes arrive, the parsers return a result or raise Rejected, nothing else."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerts.feeds.cap import NAMESPACES, Rejected, parse_alert
from alerts.feeds.index import parse_index
from alerts.hazards import HazardTable
from alerts.model import Alert

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"
ALERT_SAMPLES = [p.read_bytes() for p in sorted(DATA.iterdir()) if p.suffix in (".xml", ".cap")]
FEED_SAMPLES = [p.read_bytes() for p in sorted(DATA.iterdir()) if p.suffix in (".atom", ".rss")]
TABLE = HazardTable.load()

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies ---------------------------------------------------------------------------

# Characters XML 1.0 can carry in text (no controls, no surrogates, no U+FFFE/U+FFFF).
xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
                   max_size=40)


@st.composite
def mutated(draw: st.DrawFn, samples: list[bytes]) -> bytes:
    """A sample with a few bytes replaced, inserted, deleted or a slice duplicated."""
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "replace" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b"<", b">", b"&", b"<!DOCTYPE a>", b"<info>", b"</info>",
                                                b"\x00", b"\xff\xfe", b"&amp;", b"]]>", b"<![CDATA[x"]))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif op == "duplicate":
            length = draw(st.integers(1, 400))
            data[at:at] = data[at:at + length]
        elif op == "truncate":
            del data[at:]
    return bytes(data)


CAP_NAMES = ["identifier", "sender", "sent", "sendTime", "senderCode", "status", "msgType", "scope", "references",
             "code", "info", "language", "category", "event", "eventType", "urgency", "severity", "certainty",
             "eventCode", "valueName", "value", "effective", "onset", "expires", "headline", "description",
             "parameter", "resource", "size", "uri", "area", "areaDesc", "polygon", "circle", "geocode",
             "altitude", "ceiling", "method", "methodName", "message", "junk"]

field_text = st.one_of(
    xml_text,
    st.sampled_from(["Actual", "Alert", "Public", "Cancel", "2026-07-12T05:30:00+08:00", "2026-07-12 05:30:00",
                     "1,2 3,4 1,2", "35.8,112.9 5", "11B03", "Orange", "Severe", "SAME", "-5", "1e400",
                     "a,b,2026-07-12T05:30:00+08:00 c", "nan,nan", "暴雨橙色预警[Ⅱ级/严重]", "²", "9" * 5000,
                     "http://[::1", "Sun, 12 Jul 2026 05:30:00 +0800", "p0002003", "0203"]),
)


def element(name: str, children: list[str] | str) -> str:
    inner = children if isinstance(children, str) else "".join(children)
    return f"<{name}>{inner}</{name}>"


tree = st.recursive(
    st.builds(lambda n, t: element(n, escape(t)), st.sampled_from(CAP_NAMES), field_text),
    lambda kids: st.builds(element, st.sampled_from(CAP_NAMES), st.lists(kids, max_size=6)),
    max_leaves=30,
)


VALID_HEAD = ("<identifier>P-1</identifier><sender>s</sender><sent>2026-07-12T05:30:00+08:00</sent>"
              "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>")
INFO_NAMES = ["info", "area", "resource", "eventCode", "parameter", "geocode", "code", "method"]
info_tree = st.recursive(
    st.builds(lambda n, t: element(n, escape(t)), st.sampled_from(CAP_NAMES), field_text),
    lambda kids: st.builds(element, st.sampled_from(INFO_NAMES), st.lists(kids, max_size=6)),
    max_leaves=30,
)


@st.composite
def random_alert(draw: st.DrawFn) -> bytes:
    """Mostly a valid header, so that the info, area and resource readers are reached too."""
    namespace = draw(st.sampled_from([*NAMESPACES, "", "urn:other"]))
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    head = VALID_HEAD if draw(st.integers(0, 9)) < 8 else "".join(draw(st.lists(tree, max_size=8)))
    body = "".join(element("info", draw(st.lists(info_tree, max_size=6))) for _ in range(draw(st.integers(0, 3))))
    return f'<?xml version="1.0" encoding="UTF-8"?><alert{xmlns}>{head}{body}</alert>'.encode()


# A complete alert with every field the reader knows; each test case spoils a few of them.
TEMPLATE = (
    '<alert xmlns="{ns}"><identifier>{identifier}</identifier><sender>{sender}</sender><sent>{sent}</sent>'
    "<status>{status}</status><msgType>{msgType}</msgType><scope>{scope}</scope>"
    "<references>{references}</references><code>{code}</code>"
    "<code><method><methodName>{methodName}</methodName><message>{message}</message></method></code>"
    "<info><language>{language}</language><category>{category}</category><event>{event}</event>"
    "<eventType>{eventType}</eventType><urgency>Immediate</urgency><severity>{severity}</severity>"
    "<certainty>Likely</certainty><eventCode><valueName>{valueName}</valueName><value>{value}</value></eventCode>"
    "<effective>{effective}</effective><onset>{onset}</onset><expires>{expires}</expires>"
    "<headline>{headline}</headline><parameter>{parameter}</parameter>"
    "<resource><resourceDesc>{resourceDesc}</resourceDesc><size>{size}</size><uri>{uri}</uri></resource>"
    "<area><areaDesc>{areaDesc}</areaDesc><polygon>{polygon}</polygon><circle>{circle}</circle>"
    "<geocode>{geocode}</geocode><altitude>{altitude}</altitude><ceiling>{ceiling}</ceiling></area></info></alert>"
)
DEFAULTS = {
    "identifier": "T-1", "sender": "s@example.org", "sent": "2026-07-12T05:30:00+08:00", "status": "Actual",
    "msgType": "Update", "scope": "Public", "references": "s,T-0,2026-07-12T05:00:00+08:00", "code": "c",
    "methodName": "SMS", "message": "m", "language": "zh-CN", "category": "Met", "event": "暴雨",
    "eventType": "11B03", "severity": "Orange", "valueName": "SAME", "value": "FFW",
    "effective": "2026-07-12T05:30:00+08:00", "onset": "2026-07-12 05:30:00+08:00",
    "expires": "2026-07-12T17:30:00+08:00", "headline": "暴雨橙色预警[Ⅱ级/严重]", "parameter": "VTEC=x",
    "resourceDesc": "map", "size": "1024", "uri": "http://example.org/map.png", "areaDesc": "a",
    "polygon": "1,1 2,2 3,1 1,1", "circle": "35.8,112.9 5", "geocode": "140581101000", "altitude": "100",
    "ceiling": "200",
}


@st.composite
def spoiled_alert(draw: st.DrawFn) -> bytes:
    spoiled = draw(st.lists(st.sampled_from(sorted(DEFAULTS)), min_size=1, max_size=3, unique=True))
    values = {k: draw(field_text) if k in spoiled else v for k, v in DEFAULTS.items()}
    ns = draw(st.sampled_from([*NAMESPACES, ""]))
    doc = TEMPLATE.format(ns=ns, **{k: escape(v) for k, v in values.items()})
    return doc.replace(' xmlns=""', "").encode()


def check_alert(alert: Alert) -> None:
    """What every accepted alert promises downstream code."""
    assert alert.identifier and alert.sender
    assert alert.sent.utcoffset() is not None
    for info in alert.infos:
        for when in (info.effective, info.onset, info.expires):
            assert when is None or when.utcoffset() is not None
        for area in info.areas:
            for polygon in area.polygons:
                assert all(-90 <= lat <= 90 and -180 <= lon <= 180 for lat, lon in polygon)


def parse_or_reject(data: bytes) -> None:
    try:
        alert = parse_alert(data)
    except Rejected as exc:
        assert exc.reason
        return
    check_alert(alert)
    TABLE.normalise(alert)  # normalisation accepts whatever the parser accepts


# -- parse_alert --------------------------------------------------------------------------

@FAST
@given(mutated(ALERT_SAMPLES))
def test_mutated_alert_samples_give_an_alert_or_rejected(data: bytes) -> None:
    parse_or_reject(data)


@FAST
@given(random_alert())
def test_random_cap_shaped_documents_give_an_alert_or_rejected(data: bytes) -> None:
    parse_or_reject(data)


@FAST
@given(spoiled_alert())
def test_complete_alerts_with_spoiled_fields_give_an_alert_or_rejected(data: bytes) -> None:
    parse_or_reject(data)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_give_rejected(data: bytes) -> None:
    parse_or_reject(data)


@settings(max_examples=100, deadline=None)
@given(
    identifier=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=","),
                       min_size=1, max_size=30),
    event=xml_text,
    description=xml_text,
    as_cdata=st.booleans(),
)
def test_field_values_survive_escaping(identifier: str, event: str, description: str, as_cdata: bool) -> None:
    text = f"<![CDATA[{description}]]>" if as_cdata and "]]>" not in description else escape(description)
    doc = (f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{escape(identifier)}</identifier>'
           "<sender>s</sender><sent>2026-07-12T05:30:00+08:00</sent><status>Actual</status>"
           f"<msgType>Alert</msgType><scope>Public</scope><info><event>{escape(event)}</event>"
           f"<description>{text}</description></info></alert>")
    alert = parse_alert(doc.encode())
    assert alert.identifier == identifier
    assert alert.infos[0].event == event.strip()
    assert alert.infos[0].description == description.strip()


# -- parse_index --------------------------------------------------------------------------

def index_or_reject(data: bytes) -> None:
    try:
        result = parse_index(data)
    except Rejected as exc:
        assert exc.reason
        return
    for entry in result.entries:
        assert entry.entry_id
        assert entry.updated is None or entry.updated.utcoffset() is not None
        if entry.cap_xml is not None:
            parse_or_reject(entry.cap_xml)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(FEED_SAMPLES))
def test_mutated_feeds_give_an_index_or_rejected(data: bytes) -> None:
    index_or_reject(data)


FEED_NAMES = ["feed", "entry", "id", "title", "updated", "link", "content", "summary", "rss", "channel", "item",
              "guid", "pubDate", "description", "enclosure", "alert", "identifier"]
link = st.builds(
    lambda href, rel, kind: f'<link href="{escape(href, {chr(34): "&quot;"})}" rel="{rel}" type="{kind}"/>',
    field_text, st.sampled_from(["alternate", "related", "self", ""]),
    st.sampled_from(["application/cap+xml", "text/html", ""]),
)
feed_tree = st.recursive(
    st.one_of(st.builds(lambda n, t: element(n, escape(t)), st.sampled_from(FEED_NAMES), field_text), link),
    lambda kids: st.builds(element, st.sampled_from(FEED_NAMES), st.lists(kids, max_size=5)),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["atom", "rss"]), st.lists(feed_tree, max_size=8))
def test_random_feed_shaped_documents_give_an_index_or_rejected(kind: str, parts: list[str]) -> None:
    body = "".join(parts)
    if kind == "atom":
        doc = f'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:cap="{next(iter(NAMESPACES))}">{body}</feed>'
    else:
        doc = f'<rss version="2.0"><channel>{body}</channel></rss>'
    index_or_reject(doc.encode())


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_into_parse_index_give_rejected(data: bytes) -> None:
    index_or_reject(data)
