"""parse_alert: every sample gives its expected alert or rejection; the hardening and limits hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerts.feeds.cap import ParseLimits, Rejected, parse_alert
from alerts.hazards import HazardTable
from alerts.model import Alert, Circle, Geocode, Level

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"
TABLE = HazardTable.load()

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


@dataclass(frozen=True)
class Expect:
    identifier: str
    sender: str
    sent: str  # isoformat, offset as written
    msg_type: str
    fmt: str
    languages: tuple[str, ...]
    areas: int  # summed over infos
    geocodes: int  # summed over infos and areas
    hazard: str | None
    level: Level | None
    references: tuple[tuple[str, str, str], ...] = ()


USGS = "http://earthquake.usgs.gov/research/monitoring/anss/neic/"
NWS = "w-nws.webmaster@noaa.gov"

EXPECTED: dict[str, Expect] = {
    "cma-baoding-thunder-yellow-update.xml": Expect(
        "13060041600000_20240712213138", "Baoding_Meteorological_Observatory", "2024-07-12T21:31:38+08:00",
        "Update", "cap1.2", ("en-US", "zh-CN"), 2, 2, "lightning", Level.yellow,
        (("Baoding_Meteorological_Observatory", "13060041600000_20240712073642", "2024-07-12T21:31:38+08:00"),),
    ),
    "constructed-gaoping-rainstorm-orange.gbt35965.xml": Expect(
        "14058141600000_20260712053000", "高平市气象台", "2026-07-12T05:30:00+08:00",
        "Alert", "gbt35965", ("zh-CN",), 1, 3, "rainstorm", Level.orange,
    ),
    "constructed-gaoping-rainstorm-orange-cancel.cap12.xml": Expect(
        "14058141600000_20260712113000", "Gaoping_Meteorological_Observatory", "2026-07-12T11:30:00+08:00",
        "Cancel", "cap1.2", ("zh-CN",), 1, 3, "rainstorm", Level.orange,
        (("Gaoping_Meteorological_Observatory", "14058141600000_20260712053000", "2026-07-12T05:30:00+08:00"),),
    ),
    "google-canada.cap": Expect(
        "2.49.0.1.124.6bddbc91.2012", "cap@ec.gc.ca", "2012-05-02T23:21:04+00:00",
        "Update", "cap1.2", ("en-CA", "fr-CA"), 4, 26, "thunderstorm_gale", Level.blue,
        (("cap@ec.gc.ca", "2.49.0.1.124.a3f342a4.2012", "2012-05-02T21:45:05-00:00"),
         ("cap@ec.gc.ca", "2.49.0.1.124.60f31a3a.2012", "2012-05-02T21:55:21-00:00")),
    ),
    "google-earthquake-iso8859-1.cap": Expect(
        "USGS-earthquakes-usB000D5T4.3947362.7.20121014T225304.360Z.0", USGS, "2012-10-14T22:53:04+00:00",
        "Alert", "cap1.2", ("en-US",), 1, 0, "earthquake", None,
    ),
    "google-earthquake.cap": Expect(
        "USGS-earthquakes-us2010apcd.6.20100831T000925.496Z", USGS, "2010-08-31T00:09:25-05:00",
        "Alert", "cap1.1", ("en-US",), 1, 0, "earthquake", None,
    ),
    "google-no_optional_fields.cap": Expect(
        "USGS-earthquakes-us2010apcd.6.20100831T000925.496Z", USGS, "2010-08-31T00:09:25-05:00",
        "Alert", "cap1.1", (), 0, 0, None, None,
    ),
    "google-weather.cap": Expect(
        "NOAA-NWS-ALERTS-MT20100830100700TFXFlashFloodWatchTFX20100830180000MT", NWS, "2010-08-30T04:07:00-06:00",
        "Alert", "cap1.1", ("en-US",), 1, 2, "flash_flood", Level.orange,
    ),
    "nws-5c2cf27b.xml": Expect(
        "NOAA-NWS-ALERTS-MN1261CB03F0E0.BlizzardWarning.1261CB10BF00MN.DLHWSWDLH.5c2cf27b1f56885d61654dc47fa411d5",
        NWS, "2021-12-27T10:08:00-06:00", "Alert", "cap1.1", ("en-US",), 1, 4, "blizzard", Level.orange,
    ),
    "oasis-v1dot1_appendix_adot1.xml": Expect(
        "43b080713727", "hsas@dhs.gov", "2003-04-02T14:39:01-05:00", "Alert", "cap1.1", ("en-US",), 1, 0,
        None, Level.orange,
    ),
    "oasis-v1dot1_appendix_adot2.xml": Expect(
        "KSTO1055887203", "KSTO@NWS.NOAA.GOV", "2003-06-17T14:57:00-07:00", "Alert", "cap1.1", ("en-US",), 1, 3,
        "thunderstorm_gale", Level.orange,
    ),
    "oasis-v1dot1_appendix_adot3.xml": Expect(
        "TRI13970876.1", "trinet@caltech.edu", "2003-06-11T20:56:00-07:00", "Alert", "cap1.1", ("en-US",), 1, 0,
        "earthquake", Level.blue,
    ),
    "oasis-v1dot1_appendix_adot4.xml": Expect(
        "KAR0-0306112239-SW", "KARO@CLETS.DOJ.CA.GOV", "2003-06-11T22:39:00-07:00", "Alert", "cap1.1",
        ("en-US",), 1, 1, None, Level.orange,
    ),
    "oasis-v1dot2_appendix_adot1.xml": Expect(
        "43b080713727", "hsas@dhs.gov", "2003-04-02T14:39:01-05:00", "Alert", "cap1.2", ("en-US",), 1, 0,
        None, Level.orange,
    ),
    "oasis-v1dot2_appendix_adot2.xml": Expect(
        "KSTO1055887203", "KSTO@NWS.NOAA.GOV", "2003-06-17T14:57:00-07:00", "Alert", "cap1.2", ("en-US",), 1, 3,
        "thunderstorm_gale", Level.orange,
    ),
    "oasis-v1dot2_appendix_adot3.xml": Expect(
        "TRI13970876.2", "trinet@caltech.edu", "2003-06-11T20:56:00-07:00", "Update", "cap1.2", ("en-US",), 1, 0,
        "earthquake", Level.blue, (("trinet@caltech.edu", "TRI13970876.1", "2003-06-11T20:30:00-07:00"),),
    ),
    "oasis-v1dot2_appendix_adot4.xml": Expect(
        "KAR0-0306112239-SW", "KARO@CLETS.DOJ.CA.GOV", "2003-06-11T22:39:00-07:00", "Alert", "cap1.2",
        ("en-US", "es-US"), 2, 2, None, Level.orange,
    ),
}


def test_every_alert_sample_is_covered() -> None:
    on_disk = {p.name for p in DATA.iterdir() if p.suffix in (".xml", ".cap")}
    assert on_disk == set(EXPECTED) | {"google-invalid.cap", "google-xee.cap"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_parses_to_its_pinned_fields(name: str) -> None:
    expect = EXPECTED[name]
    alert = TABLE.normalise(parse_alert(sample(name)))
    assert alert.identifier == expect.identifier
    assert alert.sender == expect.sender
    assert alert.sent.isoformat() == expect.sent
    assert alert.msg_type == expect.msg_type
    assert alert.format == expect.fmt
    assert alert.status == "Actual" and alert.scope == "Public"
    assert tuple(i.language for i in alert.infos) == expect.languages
    assert sum(len(i.areas) for i in alert.infos) == expect.areas
    assert sum(len(a.geocodes) for i in alert.infos for a in i.areas) == expect.geocodes
    assert tuple(alert.references) == expect.references
    assert alert.hazard == expect.hazard
    assert alert.level == expect.level


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_time_in_every_sample_is_timezone_aware(name: str) -> None:
    alert = parse_alert(sample(name))
    times = [alert.sent] + [t for i in alert.infos for t in (i.effective, i.onset, i.expires) if t]
    assert all(t.utcoffset() is not None for t in times)


def test_xxe_sample_is_rejected_for_its_doctype() -> None:
    with pytest.raises(Rejected) as caught:
        parse_alert(sample("google-xee.cap"))
    assert "DOCTYPE" in caught.value.reason


def test_invalid_sample_is_rejected_naming_the_missing_scope() -> None:
    with pytest.raises(Rejected) as caught:
        parse_alert(sample("google-invalid.cap"))
    assert "<scope>" in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_gbt_profile_keeps_channel_text_codes_and_bare_geocodes() -> None:
    alert = parse_alert(sample("constructed-gaoping-rainstorm-orange.gbt35965.xml"))
    info = alert.infos[0]
    assert info.method_texts["SMS"].startswith("【高平市气象台】高平市气象台7月12日5时30分发布暴雨橙色预警信号")
    assert Geocode(name="method:SMS:audienceGrp", value="应急责任人") in info.parameters
    assert info.event_codes == [Geocode(name="GB/T 35965.1 eventType", value="11B03")]
    assert info.severity == "Orange"  # as written; the level comes from normalisation
    area = info.areas[0]
    assert [g.value for g in area.geocodes] == ["140581101000", "140581102000", "140581103000"]
    assert all(g.name == "" for g in area.geocodes)
    assert area.polygons[0][0] == (35.823, 112.870) and len(area.polygons[0]) == 5
    assert info.expires == datetime.fromisoformat("2026-07-12T17:30:00+08:00")
    assert alert.geocodes() == ["140581101000", "140581102000", "140581103000"]


def test_cancel_references_the_gbt_alert_it_cancels() -> None:
    original = parse_alert(sample("constructed-gaoping-rainstorm-orange.gbt35965.xml"))
    cancel = parse_alert(sample("constructed-gaoping-rainstorm-orange-cancel.cap12.xml"))
    assert [ref[1] for ref in cancel.references] == [original.identifier]
    assert datetime.fromisoformat(cancel.references[0][2]) == original.sent


def test_iso_8859_1_document_is_decoded() -> None:
    alert = parse_alert(sample("google-earthquake-iso8859-1.cap"))
    assert "Usulután" in alert.infos[0].headline
    assert alert.codes == ["IPAWSv1.0"]


def test_canada_sample_keeps_polygons_parameters_and_codes() -> None:
    alert = parse_alert(sample("google-canada.cap"))
    info = alert.infos[0]
    assert alert.codes == ["profile:CAP-CP:0.4", "layer:EC-MSC-SMC:1.0", "layer:SOREM:1.0"]
    assert info.event_codes[1] == Geocode(name="SAME", value="SVA")
    assert len(info.parameters) == 5 and info.parameters[0].value == "watch"
    assert len(info.areas[0].polygons[0]) == 17
    assert info.areas[0].polygons[0][0] == (42.3481, -82.9314)


def test_circle_resource_and_empty_polygon() -> None:
    quake = parse_alert(sample("google-earthquake.cap"))
    assert quake.infos[0].areas[0].circles == [Circle(lat=-16.053, lon=-173.274, radius_km=0.0)]
    hsas = parse_alert(sample("oasis-v1dot2_appendix_adot1.xml"))
    assert hsas.infos[0].resources[0].uri == "http://www.dhs.gov/dhspublic/getAdvisoryImage"
    assert hsas.infos[0].resources[0].desc == "Image file (GIF)"
    nws = parse_alert(sample("nws-5c2cf27b.xml"))
    assert nws.infos[0].areas[0].polygons == []  # <polygon></polygon> means none


# -- constructed documents -------------------------------------------------------------------

def cap(body: str, *, ns: str = CAP12, head: str | None = None) -> bytes:
    """A CAP document with the usual header, `head` replacing it when given."""
    if head is None:
        head = ("<identifier>T-1</identifier><sender>s@example.org</sender>"
                "<sent>2026-07-12T05:30:00+08:00</sent><status>Actual</status>"
                "<msgType>Alert</msgType><scope>Public</scope>")
    xmlns = f' xmlns="{ns}"' if ns else ""
    return f'<?xml version="1.0" encoding="UTF-8"?><alert{xmlns}>{head}{body}</alert>'.encode()


@pytest.mark.parametrize("element", ["identifier", "sender", "sent", "status", "msgType", "scope"])
def test_missing_required_element_is_rejected_by_name(element: str) -> None:
    doc = cap("").decode()
    start = doc.index(f"<{element}>")
    end = doc.index(f"</{element}>") + len(element) + 3
    with pytest.raises(Rejected) as caught:
        parse_alert((doc[:start] + doc[end:]).encode())
    assert f"<{element}>" in caught.value.reason


def test_empty_identifier_is_rejected() -> None:
    with pytest.raises(Rejected, match="<identifier>.*empty"):
        parse_alert(cap("").replace(b"<identifier>T-1</identifier>", b"<identifier> </identifier>"))


def test_cap_1_0_pairs_are_split_at_the_equals_sign() -> None:
    body = ("<info><category>Met</category><event>Flood</event><urgency>Expected</urgency>"
            "<severity>Moderate</severity><certainty>Likely</certainty><eventCode>SAME=FLW</eventCode>"
            "<parameter>VTEC=/O.NEW/</parameter><area><areaDesc>x</areaDesc><geocode>fips6=006109</geocode>"
            "</area></info>")
    alert = TABLE.normalise(parse_alert(cap(body, ns="http://www.incident.com/cap/1.0")))
    assert alert.format == "cap1.0"
    info = alert.infos[0]
    assert info.areas[0].geocodes == [Geocode(name="fips6", value="006109")]
    assert info.parameters == [Geocode(name="VTEC", value="/O.NEW/")]
    assert (info.hazard, info.level) == ("flood", Level.yellow)


def test_cap_time_without_offset_is_rejected() -> None:
    doc = cap("").replace(b"2026-07-12T05:30:00+08:00", b"2026-07-12T05:30:00")
    with pytest.raises(Rejected, match="<sent>.*offset"):
        parse_alert(doc)


def test_gbt_local_time_without_offset_is_beijing_time() -> None:
    head = ("<identifier>G-1</identifier><senderCode>14058141600000</senderCode>"
            "<sendTime>2026-07-12 05:30:00</sendTime><status>Actual</status><msgType>解除</msgType>"
            "<scope>Public</scope>")
    alert = parse_alert(cap("", ns="", head=head))
    assert alert.sent.utcoffset() == timedelta(hours=8)
    assert alert.sender == "14058141600000"  # senderCode stands in for a missing <sender>
    assert alert.msg_type == "Cancel"


@pytest.mark.parametrize("value", ["yesterday", "2026-07-12", "2026-13-40T00:00:00+08:00", "2026-07-12T05:30:00+99:00"])
def test_malformed_time_is_rejected_naming_the_element(value: str) -> None:
    body = f"<info><event>x</event><expires>{value}</expires></info>"
    with pytest.raises(Rejected, match="<expires>"):
        parse_alert(cap(body))


def test_references_with_gbt_times_and_bare_identifiers() -> None:
    head = ("<identifier>G-2</identifier><sender>x</sender><sendTime>2026-07-12 06:00:00+08:00</sendTime>"
            "<status>Actual</status><msgType>Update</msgType><scope>Public</scope>"
            "<references>14058141600000,G-1,2026-07-12 05:30:00+08:00 G-0</references>")
    alert = parse_alert(cap("", ns="", head=head))
    assert alert.references == [("14058141600000", "G-1", "2026-07-12 05:30:00+08:00"), ("", "G-0", "")]


def test_malformed_reference_is_rejected() -> None:
    doc = cap("<references>a,,b</references>")
    with pytest.raises(Rejected, match="<references>"):
        parse_alert(doc)


@pytest.mark.parametrize("field,value", [("status", "Real"), ("msgType", "Notice"), ("scope", "Everyone")])
def test_unknown_enumeration_value_is_rejected(field: str, value: str) -> None:
    doc = cap("").decode()
    start = doc.index(f"<{field}>") + len(field) + 2
    end = doc.index(f"</{field}>")
    with pytest.raises(Rejected, match=f"<{field}> is '{value}'"):
        parse_alert((doc[:start] + value + doc[end:]).encode())


def test_enumeration_case_is_normalised() -> None:
    alert = parse_alert(cap("").replace(b"<status>Actual</status>", b"<status>exercise</status>"))
    assert alert.status == "Exercise" and alert.is_exercise


def test_duplicate_identifier_is_rejected() -> None:
    with pytest.raises(Rejected, match="more than once"):
        parse_alert(cap("<identifier>T-2</identifier>"))


def test_identifier_with_comma_is_rejected() -> None:
    with pytest.raises(Rejected, match="comma"):
        parse_alert(cap("").replace(b"T-1", b"T,1"))


@pytest.mark.parametrize("polygon", ["1,2 3", "91,0 0,0 0,1 91,0", "a,b c,d", "nan,0 0,0 1,1 nan,0", "1,2,3 4,5"])
def test_bad_polygon_is_rejected(polygon: str) -> None:
    body = f"<info><event>x</event><area><areaDesc>a</areaDesc><polygon>{polygon}</polygon></area></info>"
    with pytest.raises(Rejected, match="<polygon>"):
        parse_alert(cap(body))


@pytest.mark.parametrize("circle", ["1,2", "1,2 -5", "1,2 x", "100,2 5"])
def test_bad_circle_is_rejected(circle: str) -> None:
    body = f"<info><event>x</event><area><areaDesc>a</areaDesc><circle>{circle}</circle></area></info>"
    with pytest.raises(Rejected, match="<circle"):
        parse_alert(cap(body))


def test_polygon_with_spaces_after_commas_is_tolerated() -> None:
    body = "<info><event>x</event><area><areaDesc>a</areaDesc><polygon>1, 2 3, 4 1, 2</polygon></area></info>"
    assert parse_alert(cap(body)).infos[0].areas[0].polygons == [[(1.0, 2.0), (3.0, 4.0), (1.0, 2.0)]]


def test_foreign_namespace_elements_are_ignored() -> None:
    body = ('<identifier xmlns="http://example.org/other">EVIL</identifier>'
            '<x:note xmlns:x="http://example.org/x">ignored</x:note>')
    alert = parse_alert(cap(body))
    assert alert.identifier == "T-1" and alert.note == ""


def test_stray_markup_in_text_is_flattened() -> None:
    body = "<info><event>x</event><description>heavy <b>rain</b> now</description></info>"
    assert parse_alert(cap(body)).infos[0].description == "heavy rain now"


def test_unknown_namespace_and_other_roots_are_rejected() -> None:
    with pytest.raises(Rejected, match="unknown namespace"):
        parse_alert(cap("", ns="urn:oasis:names:tc:emergency:cap:9.9"))
    with pytest.raises(Rejected, match="expected <alert>"):
        parse_alert(b'<feed xmlns="http://www.w3.org/2005/Atom"/>')


@pytest.mark.parametrize("data", [b"", b"   ", b"not xml", b"<alert>", b"\xff\xfe\x00", "<alert/>"])
def test_junk_is_rejected(data: bytes) -> None:
    with pytest.raises(Rejected):
        parse_alert(data)  # type: ignore[arg-type]  # a str on purpose, too


def test_entity_bomb_is_rejected_before_parsing() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><alert>&b;</alert>')
    with pytest.raises(Rejected, match="DOCTYPE"):
        parse_alert(bomb)


def test_doctype_after_comment_and_pi_is_still_found() -> None:
    doc = b'<?xml version="1.0"?><!-- hi --><?pi x?>\n<!DOCTYPE alert SYSTEM "file:///etc/passwd"><alert/>'
    with pytest.raises(Rejected, match="DOCTYPE"):
        parse_alert(doc)


def test_utf16_with_bom_is_accepted_and_its_doctype_still_refused() -> None:
    text = cap("").decode().replace('encoding="UTF-8"', 'encoding="UTF-16"')
    assert parse_alert(text.encode("utf-16")).identifier == "T-1"
    hidden = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><alert/>'
    with pytest.raises(Rejected, match="DOCTYPE"):
        parse_alert(hidden.encode("utf-16"))
    with pytest.raises(Rejected, match="NUL"):
        parse_alert(hidden.encode("utf-16-le"))  # no byte-order mark


def test_limits_are_enforced() -> None:
    info = "<info><event>x</event><area><areaDesc>a</areaDesc><polygon>1,1 2,2 3,3 1,1</polygon></area></info>"
    doc = cap(info * 3)
    parse_alert(doc)
    with pytest.raises(Rejected, match="bytes"):
        parse_alert(doc, limits=ParseLimits(max_bytes=100))
    with pytest.raises(Rejected, match="<info> blocks"):
        parse_alert(doc, limits=ParseLimits(max_infos=2))
    with pytest.raises(Rejected, match="<area>"):
        parse_alert(doc, limits=ParseLimits(max_areas=2))
    with pytest.raises(Rejected, match="polygon points"):
        parse_alert(doc, limits=ParseLimits(max_points=10))
    with pytest.raises(Rejected, match="elements"):
        parse_alert(doc, limits=ParseLimits(max_elements=20))
    with pytest.raises(Rejected, match="deeper"):
        parse_alert(doc, limits=ParseLimits(max_depth=3))


def test_deep_nesting_is_rejected() -> None:
    deep = b"<x>" * 100 + b"</x>" * 100
    with pytest.raises(Rejected, match="deeper"):
        parse_alert(cap(deep.decode()))


def test_no_info_gbt_method_block_with_two_sms_texts_keeps_both() -> None:
    head = ("<identifier>G-3</identifier><sender>x</sender><sendTime>2026-07-12 06:00:00+08:00</sendTime>"
            "<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>"
            "<code><method><methodName>SMS</methodName><message>one</message></method>"
            "<method><methodName>sms</methodName><message>two</message></method>"
            "<method><methodName>SPEAKER</methodName><message>three</message></method></code>")
    alert = parse_alert(cap("<info><eventType>11B09</eventType></info>", ns="", head=head))
    assert alert.infos[0].method_texts == {"SMS": "one\ntwo", "SPEAKER": "three"}


def test_parsed_alert_is_a_model_instance_that_round_trips() -> None:
    alert = parse_alert(sample("cma-baoding-thunder-yellow-update.xml"))
    assert isinstance(alert, Alert)
    assert Alert.model_validate_json(alert.model_dump_json()) == alert


def test_element_limit_cannot_be_dodged_with_end_tags_in_cdata() -> None:
    # Markup-looking text inside CDATA must not make the cheap pre-count undercount elements.
    filler = "<![CDATA[" + "</x>" * 200 + "]]>"
    doc = cap("<info>" + "<category>Met</category>" * 60 + f"<description>{filler}</description></info>")
    with pytest.raises(Rejected, match="elements"):
        parse_alert(doc, limits=ParseLimits(max_elements=50))


@pytest.mark.parametrize("size", ["²", "12a", "-1", "9" * 5000])
def test_bad_resource_size_is_rejected_not_crashed(size: str) -> None:
    body = f"<info><event>x</event><resource><resourceDesc>r</resourceDesc><size>{size}</size></resource></info>"
    with pytest.raises(Rejected, match="<size>"):
        parse_alert(cap(body))
