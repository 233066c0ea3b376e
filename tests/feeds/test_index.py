"""parse_index: Atom and RSS index samples list the right entries; broken feeds are rejected."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from alerts.feeds.cap import Rejected, parse_alert
from alerts.feeds.index import IndexResult, parse_index
from alerts.feeds.safexml import ParseLimits

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"


def feed(name: str, base_url: str = "") -> IndexResult:
    return parse_index((DATA / name).read_bytes(), base_url)


def test_nws_index_lists_entries_with_cap_fields_and_links() -> None:
    result = feed("google-weather_index.atom")
    assert (result.kind, result.version) == ("atom", "atom10")
    assert result.feed_id == "http://www.weather.gov/alerts-beta/"
    assert result.updated == datetime.fromisoformat("2010-08-31T14:24:00+00:00")
    assert len(result.entries) == 2 and result.skipped == ()
    first = result.entries[0]
    url = "http://www.weather.gov/alerts-beta/wwacapget.php?x=CT20100831030400OKXAirQualityAlertOKX20100901031500CT"
    assert first.entry_id == url
    assert first.link == url and first.cap_link == url  # an untyped link in a CAP index is the CAP document
    assert first.updated is not None and first.updated.isoformat() == "2010-08-30T23:04:00-04:00"
    assert first.cap["expires"] == "2010-08-31T23:15:00-04:00"
    assert first.cap["severity"] == "Unknown" and first.cap["msgType"] == "Alert"
    assert first.cap["areaDesc"].startswith("Middlesex; New Haven")
    assert first.cap_geocodes == (("FIPS6", "009007 009009 009011 044009"),)
    assert first.cap_parameters == (("VTEC", ""),)
    assert first.cap_xml is None


def test_empty_index_has_no_entries() -> None:
    result = feed("google-empty_weather_index.atom")
    assert result.entries == () and result.skipped == ()
    assert result.title.startswith("Current Watches, Warnings and Advisories")


def test_earthquake_index_prefers_the_link_typed_as_cap() -> None:
    (entry,) = feed("google-earthquake_index.atom").entries
    assert entry.entry_id == "urn:earthquake-usgs-gov:us:2010apcd"
    assert entry.link == "http://earthquake.usgs.gov/earthquakes/recenteqsww/Quakes/us2010apcd.php"
    assert entry.cap_link == "http://earthquake.usgs.gov/earthquakes/catalogs/cap/us2010apcd"
    assert entry.title == "M 5.3, Tonga"
    assert entry.updated == datetime.fromisoformat("2010-08-30T23:25:40+00:00")


def test_amber_feed_embeds_a_cap_alert_that_parses() -> None:
    (entry,) = feed("google-amber.atom").entries
    assert entry.entry_id == "http://doj.dc.gov/amber12345"
    assert entry.cap_link is None and entry.link is None
    assert entry.cap_xml is not None
    alert = parse_alert(entry.cap_xml)
    assert alert.identifier == "http://doj.dc.gov/amber12345"
    assert alert.format == "cap1.1"
    assert alert.infos[0].event == "Child Abduction"
    assert alert.infos[0].areas[0].geocodes[0].value == "006037"


def test_rss_index_uses_guid_and_link() -> None:
    result = feed("google-ny_index.rss")
    assert (result.kind, result.version) == ("rss", "rss20")
    assert result.feed_id == "http://www.nyalert.gov/"
    assert [e.entry_id for e in result.entries] == ["NYAlert-ALLHAZALERT-3167113", "NYAlert-ALLHAZALERT-3162202"]
    first = result.entries[0]
    assert first.cap_link == "http://www.nyalert.gov/Public/News/GetCapAlert.aspx?capID=NYAlert-ALLHAZALERT-3167113"
    assert first.updated == datetime.fromisoformat("2011-02-04T20:20:00+00:00")
    assert first.title.startswith("I-81 NB")


def test_invalid_rss_sample_is_rejected_with_a_reason() -> None:
    with pytest.raises(Rejected) as caught:
        feed("google-invalid.rss")
    assert "<title>" in caught.value.reason


def test_a_cap_alert_is_not_a_feed() -> None:
    with pytest.raises(Rejected, match="parse_alert"):
        feed("google-weather.cap")


def test_relative_links_are_resolved_against_the_base_url() -> None:
    data = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>
      <updated>2026-07-12T05:30:00+08:00</updated>
      <entry><id>e1</id><title>a</title><updated>2026-07-12T05:30:00+08:00</updated>
        <link rel="alternate" type="text/html" href="page.html"/>
        <link rel="related" type="application/cap+xml" href="/cap/e1.xml"/></entry>
    </feed>"""
    (entry,) = parse_index(data, base_url="https://warn.example.org/feeds/index.atom").entries
    assert entry.link == "https://warn.example.org/feeds/page.html"
    assert entry.cap_link == "https://warn.example.org/cap/e1.xml"
    assert entry.updated is not None and entry.updated.isoformat() == "2026-07-12T05:30:00+08:00"


def test_rss_entry_without_title_or_description_is_skipped_not_fatal() -> None:
    data = b"""<rss version="2.0"><channel><title>t</title><link>http://x/</link><description>d</description>
      <item><guid>g1</guid></item>
      <item><title>ok</title><guid>g2</guid><link>http://x/g2.xml</link><pubDate>Sun, 12 Jul 2026 05:30:00 +0800</pubDate></item>
    </channel></rss>"""
    result = parse_index(data)
    assert [e.entry_id for e in result.entries] == ["g2"]
    assert result.entries[0].updated is not None and result.entries[0].updated.isoformat() == "2026-07-12T05:30:00+08:00"
    assert len(result.skipped) == 1 and "g1" in result.skipped[0]


def test_embedded_gbt_alert_in_rss_item_is_extracted() -> None:
    gbt = (DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_text(encoding="utf-8")
    body = gbt.split("?>", 1)[1]
    data = ("<?xml version='1.0' encoding='UTF-8'?><rss version='2.0'><channel><title>高平</title>"
            f"<item><title>暴雨橙色预警</title><guid>x</guid><content>{body}</content></item></channel></rss>").encode()
    (entry,) = parse_index(data).entries
    assert entry.cap_xml is not None
    assert parse_alert(entry.cap_xml).identifier == "14058141600000_20260712053000"


@pytest.mark.parametrize("data", [b"", b"/etc/passwd", b"http://example.org/feed", b"<html><body/></html>", b"<rss"])
def test_non_feeds_are_rejected_without_opening_anything(data: bytes) -> None:
    # feedparser opens a string naming a file or URL; parse_index must never let it.
    with pytest.raises(Rejected):
        parse_index(data)


def test_feed_with_doctype_is_rejected() -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]><feed/>'
    with pytest.raises(Rejected, match="DOCTYPE"):
        parse_index(data)


def test_entry_limit() -> None:
    items = "".join(f"<item><title>{i}</title><guid>{i}</guid></item>" for i in range(5))
    data = f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>".encode()
    assert len(parse_index(data).entries) == 5
    with pytest.raises(Rejected, match="entries"):
        parse_index(data, max_entries=4)
    with pytest.raises(Rejected, match="bytes"):
        parse_index(data, limits=ParseLimits(max_bytes=50))


def test_rss_1_0_feed_with_items_beside_the_channel() -> None:
    data = b"""<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
        xmlns:dc="http://purl.org/dc/elements/1.1/">
      <channel rdf:about="http://x/"><title>t</title><link>http://x/</link><description>d</description></channel>
      <item rdf:about="http://x/1.xml"><title>one</title><link>http://x/1.xml</link>
        <dc:date>2026-07-12T05:30:00+08:00</dc:date></item>
    </rdf:RDF>"""
    result = parse_index(data)
    assert result.kind == "rdf"
    (entry,) = result.entries
    assert entry.cap_link == "http://x/1.xml" and entry.title == "one"
    assert entry.updated is not None and entry.updated.isoformat() == "2026-07-12T05:30:00+08:00"


def test_extension_elements_are_not_taken_for_the_feeds_own() -> None:
    data = b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
      <media:title>not this</media:title><title>the title</title>
      <item><media:title>nor this</media:title><guid>g</guid><description>d</description></item>
    </channel></rss>"""
    result = parse_index(data)
    assert result.title == "the title"
    assert result.entries[0].title == ""  # the item has no title of its own, only a description


def test_link_that_is_not_a_url_is_dropped_not_fatal() -> None:
    data = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>f</id>
      <entry><id>e1</id><title>a</title><link href="http://[::1"/><link href="ok.xml"/></entry></feed>"""
    (entry,) = parse_index(data, base_url="http://x.example/").entries
    assert entry.link == "http://x.example/ok.xml"
