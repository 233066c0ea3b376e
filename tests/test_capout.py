"""CAP 1.2 out: valid against the OASIS schema, and read back by our own parser to the same alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.capout import cap_alert, cap_time, to_xml
from alerts.channels.notice import Published
from alerts.clock import SHANGHAI
from alerts.feeds.cap import parse_alert
from alerts.hazards import HazardTable
from alerts.model import Alert

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = xmlschema.XMLSchema(ROOT / "tests" / "data" / "schemas" / "schema_cap12.xsd")
SOURCE = ROOT / "alerts" / "demo" / "samples" / "constructed-gaoping-rainstorm-orange.gbt35965.xml"
HAZARDS = HazardTable.load(ROOT / "config" / "hazards.yaml")
NAMES = {"140581101": "米山镇", "140581102": "三甲镇", "140581103": "神农镇"}


def source_alert() -> Alert:
    return HAZARDS.normalise(parse_alert(SOURCE.read_bytes()))


def published(**changes: object) -> Published:
    base = Published(
        message_id=12, draft_id=3, text="高平市气象台发布暴雨橙色预警信号，涉及米山镇、三甲镇、神农镇。\n请远离河道。",
        audience="residents", channel="sms", language="zh-CN", areas=["140581101", "140581102", "140581103"],
        kind="warning", state="sent", hazard="rainstorm", level="orange", exercise=False,
        decided_at=datetime(2026, 7, 12, 5, 41, 17, 523000, tzinfo=SHANGHAI),
        created_at=datetime(2026, 7, 12, 5, 30, 2, tzinfo=SHANGHAI),
        expires_at=datetime(2026, 7, 12, 17, 30, tzinfo=SHANGHAI), alert=source_alert(), alert_scope="Public")
    return replace(base, **changes)  # type: ignore[arg-type]


OURS = [("kepu.gaoping.example", "140581-kepu-7", "2026-07-12T05:35:00+08:00")]


def build(p: Published, earlier: list[tuple[str, str, str]] | None = None) -> Alert:
    return cap_alert(p, sender="kepu.gaoping.example", issuer="高平市应急科普预警服务", region_code="140581",
                     area_names=NAMES, web_base="https://kepu.gaoping.example", earlier=earlier)


def assert_round_trip(built: Alert) -> Alert:
    xml = to_xml(built)
    SCHEMA.validate(xml.decode("utf-8"))
    back = HAZARDS.normalise(parse_alert(xml))
    assert (back.identifier, back.sender, back.sent, back.status, back.msg_type, back.scope) == (
        built.identifier, built.sender, built.sent, built.status, built.msg_type, built.scope)
    assert back.references == built.references
    [b], [o] = back.infos, built.infos
    assert (b.event, b.hazard, b.level, b.severity, b.urgency, b.certainty) == (
        o.event, o.hazard, o.level, o.severity, o.urgency, o.certainty)
    assert (b.headline, b.description, b.sender_name, b.web, b.expires, b.effective) == (
        o.headline, o.description, o.sender_name, o.web, o.expires, o.effective)
    assert [a.model_dump() for a in b.areas] == [a.model_dump() for a in o.areas]
    assert b.event_codes == o.event_codes and b.categories == o.categories
    return back


def test_an_approved_warning_becomes_schema_valid_cap_that_reads_back_to_the_same_alert() -> None:
    built = build(published())
    back = assert_round_trip(built)
    assert back.identifier == "140581-kepu-12" and back.status == "Actual" and back.msg_type == "Alert"
    # It names the official warning instead of impersonating it; <references> is only for our own messages,
    # which a downstream system saw and can follow.
    assert back.references == [] and "14058141600000_20260712053000" in back.note and "高平市气象台" in back.note
    info = back.infos[0]
    assert info.hazard == "rainstorm" and info.level is not None and info.level.value == "orange"
    assert info.severity == "Severe" and info.event == "暴雨"
    assert [g.value for g in info.areas[0].geocodes] == ["140581101000", "140581102000", "140581103000"]
    assert info.areas[0].desc == "米山镇、三甲镇、神农镇"
    # The source's polygon travels with our township codes.
    assert info.areas[0].polygons == source_alert().infos[0].areas[0].polygons and info.areas[0].polygons
    assert back.sent.isoformat() == "2026-07-12T05:41:17+08:00"


@pytest.mark.parametrize(("kind", "msg_type"), [("update", "Update"), ("all_clear", "Cancel"),
                                                ("correction", "Update")])
def test_updates_and_all_clears_reference_our_own_earlier_message(kind: str, msg_type: str) -> None:
    back = assert_round_trip(build(published(kind=kind), earlier=OURS))
    assert back.msg_type == msg_type and back.references == OURS
    assert back.infos[0].response_types == (["AllClear"] if kind == "all_clear" else [])


def test_a_withdrawal_asks_for_nothing_and_says_why() -> None:
    back = assert_round_trip(build(published(kind="all_clear", stage="withdraw"), earlier=OURS))
    assert back.msg_type == "Cancel" and back.infos[0].response_types == ["None"] and "误发" in back.note


def test_a_control_character_in_any_text_leaves_valid_well_formed_cap() -> None:
    xml = to_xml(build(published(text="请远离\x0b河道\u202e。")))
    SCHEMA.validate(xml.decode("utf-8"))
    assert parse_alert(xml).infos[0].description == "请远离河道。"


def test_a_signed_alert_verifies_and_stays_schema_valid(tmp_path: Path) -> None:
    from alerts.capsign import load_signer, verify

    key_path, cert_path = signing_pair(tmp_path)
    signer = load_signer(str(key_path), str(cert_path))
    assert signer is not None
    signed = signer.sign(to_xml(build(published(kind="update"), earlier=OURS)))
    SCHEMA.validate(signed.decode("utf-8"))
    assert b"<ds:Signature" in signed and b"SignatureValue" in signed
    assert b"140581-kepu-12" in verify(signed, cert_path.read_bytes())
    tampered = signed.replace("请远离河道".encode(), "请靠近河道".encode())
    with pytest.raises(Exception, match="(?i)digest|signature"):
        verify(tampered, cert_path.read_bytes())


def signing_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A throwaway RSA key and self-signed certificate, as an operator would provide in PEM files."""
    from datetime import UTC, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kepu.gaoping.example")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path, cert_path = tmp_path / "cap-key.pem", tmp_path / "cap-cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_an_exercise_is_written_with_status_exercise() -> None:
    assert assert_round_trip(build(published(exercise=True))).status == "Exercise"


def test_a_campaign_without_a_source_alert_is_still_valid_cap() -> None:
    back = assert_round_trip(build(published(kind="campaign", hazard=None, level=None, alert=None,
                                             alert_scope=None, expires_at=None)))
    assert back.references == [] and back.infos[0].categories == ["Safety"]


def test_cap_times_have_an_offset_and_no_fractions() -> None:
    assert cap_time(datetime(2026, 7, 11, 21, 40, 5, 999, tzinfo=SHANGHAI)) == "2026-07-11T21:40:05+08:00"


@settings(max_examples=40, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300))
def test_any_message_text_survives_the_round_trip_and_stays_valid(text: str) -> None:
    # Any text at all, control characters included: the CAP stays valid and reads back as the text
    # without the characters XML 1.0 cannot carry (alerts.textclean.clean).
    from alerts.textclean import clean

    kept = clean(text).strip()
    if not kept:
        return
    xml = to_xml(build(published(text=text)))
    SCHEMA.validate(xml.decode("utf-8"))
    assert parse_alert(xml).infos[0].description.strip() == kept
