"""Public feeds over real HTTP: Atom that feedparser reads cleanly, CAP 1.2 per message, printable notices."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import feedparser
import pytest
import xmlschema
from aiohttp import web
from click.testing import CliRunner

from alerts.app import Service
from alerts.web.app import make_app
from tests.channels.notices_support import SAMPLE, approve_sample, make_service, message_ids

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA = xmlschema.XMLSchema(ROOT / "tests" / "data" / "schemas" / "schema_cap12.xsd")


@dataclass
class Site:
    service: Service
    base: str
    http: aiohttp.ClientSession
    config_dir: Path
    public: int  # the residents message of the approved warning
    school: int  # the schools notice of the approved warning
    drill: int  # the residents message of an approved exercise
    pending: int  # the residents message of a draft nobody approved


@pytest.fixture
async def site(config_dir: Path, database_url: str) -> AsyncIterator[Site]:
    service = await make_service(config_dir, database_url)
    warning = await approve_sample(service)
    drill = await approve_sample(service, exercise=True)
    other = SAMPLE.read_bytes().replace(b"20260712053000</identifier>", b"20260712053002</identifier>").replace(
        b"<eventType>11B03</eventType>", b"<eventType>11B14</eventType>").replace("暴雨".encode(), "雷电".encode())
    intake = await service.receive(other, source="test")
    [pending] = intake.drafts.created
    ids = dict(public=(await message_ids(service, warning, audience="residents"))[0],
               school=(await message_ids(service, warning, audience="schools"))[0],
               drill=(await message_ids(service, drill, audience="residents"))[0],
               pending=(await message_ids(service, pending, audience="residents"))[0])
    runner = web.AppRunner(make_app(service))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http:
            yield Site(service, f"http://127.0.0.1:{port}", http, config_dir, **ids)
    finally:
        await runner.cleanup()
        await service.close()


async def get(site: Site, path: str) -> tuple[int, str, bytes]:
    async with site.http.get(site.base + path) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.read()


async def test_atom_feed_is_valid_and_lists_only_public_approved_non_exercise_messages(site: Site) -> None:
    status, ctype, body = await get(site, "/feeds/alerts.atom")
    assert status == 200 and ctype.startswith("application/atom+xml")
    feed = feedparser.parse(body)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    links = [link.href for e in feed.entries for link in e.links]
    assert [e.id for e in feed.entries] == [f"http://127.0.0.1:8080/feeds/cap/{site.public}.xml"]
    [entry] = feed.entries
    assert entry.title == "暴雨橙色预警 · 防御科普提示" and "暴雨" in entry.content[0].value
    assert any(link.endswith(f"/notices/{site.public}") for link in links)
    for hidden in (site.school, site.drill, site.pending):
        assert not any(f"/{hidden}." in link or link.endswith(f"/{hidden}") for link in links)


async def test_cap_for_a_public_message_validates_and_alerts_ingest_reads_it_back(site: Site, tmp_path: Path) -> None:
    status, ctype, body = await get(site, f"/feeds/cap/{site.public}.xml")
    assert status == 200 and ctype.startswith("application/cap+xml")
    SCHEMA.validate(body.decode("utf-8"))
    path = tmp_path / "out.cap.xml"
    path.write_bytes(body)
    from alerts.cli import cli

    result = CliRunner().invoke(cli, ["ingest", str(path), "--json", "--config", str(site.config_dir)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output.strip().splitlines()[-1])
    assert doc["identifier"] == f"140581-kepu-{site.public}" and doc["sender"] == "kepu.gaoping.example"
    assert doc["status"] == "Actual" and doc["msg_type"] == "Alert"
    assert doc["hazard"] == "rainstorm" and doc["level"] == "orange"


@pytest.mark.parametrize("which", ["school", "drill", "pending"])
async def test_cap_is_not_served_for_messages_outside_the_public_feed(site: Site, which: str) -> None:
    status, _, _ = await get(site, f"/feeds/cap/{getattr(site, which)}.xml")
    assert status == 404


async def test_unknown_or_malformed_ids_are_404(site: Site) -> None:
    for path in ("/feeds/cap/999999.xml", "/feeds/cap/abc.xml", "/notices/999999", "/notices/1e3"):
        status, _, _ = await get(site, path)
        assert status == 404, path


async def test_printable_notice_is_served_for_approved_messages_with_a_strict_csp(site: Site) -> None:
    async with site.http.get(f"{site.base}/notices/{site.school}") as r:
        assert r.status == 200 and r.content_type == "text/html"
        html = await r.text()
        csp = r.headers["Content-Security-Policy"]
    assert "各学校、幼儿园：" in html and "暴雨橙色预警" in html
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">' in html and "script-src" not in csp and "default-src 'none'" in csp
    status, _, drill = await get(site, f"/notices/{site.drill}")
    assert status == 200 and "演练 · 非真实预警".encode() in drill


async def test_a_pending_draft_has_no_public_notice(site: Site) -> None:
    status, _, _ = await get(site, f"/notices/{site.pending}")
    assert status == 404


async def test_console_users_see_an_unapproved_notice_marked_as_a_preview(site: Site) -> None:
    from alerts.store import users as user_store
    from alerts.web.auth import SESSION_COOKIE

    async with site.service.db.write() as conn:
        editor = await user_store.add(conn, "li.editor", ["editor"], "editor-password-1", at=site.service.clock.now())
        cookie, _csrf = await user_store.create_session(conn, editor, at=site.service.clock.now())
    async with site.http.get(f"{site.base}/notices/{site.pending}", cookies={SESSION_COOKIE: cookie}) as r:
        assert r.status == 200
        html = await r.text()
    assert "待审批样稿，未经批准不得张贴" in html and "雷电" in html


async def test_a_control_character_in_a_stored_text_leaves_both_feeds_answering_well_formed_xml(site: Site) -> None:
    # Edits and intake refuse or strip such characters; a text stored before that must still not take
    # the feeds down for everyone (they answered 500 before issue 12).
    from sqlalchemy import update

    from alerts.store.tables import messages

    async with site.service.db.write() as conn:
        await conn.execute(update(messages).where(messages.c.id == site.public)
                           .values(text="请远离\x0b河道\u202e和低洼地。\x1f"))
    status, _ctype, body = await get(site, "/feeds/alerts.atom")
    assert status == 200
    feed = feedparser.parse(body)
    assert feed.bozo == 0 and feed.entries[0].content[0].value == "请远离河道和低洼地。"
    status, _ctype, body = await get(site, f"/feeds/cap/{site.public}.xml")
    assert status == 200
    SCHEMA.validate(body.decode("utf-8"))


async def test_published_cap_is_signed_when_a_key_is_configured(config_dir: Path, database_url: str,
                                                                tmp_path: Path) -> None:
    from alerts.capsign import verify
    from tests.channels.notices_support import approve_sample, make_service, message_ids
    from tests.test_capout import signing_pair

    key, cert = signing_pair(tmp_path)
    service = await make_service(config_dir, database_url, ALERTS_CAP_SIGNING_KEY=str(key),
                                 ALERTS_CAP_SIGNING_CERT=str(cert))
    draft = await approve_sample(service)
    public = (await message_ids(service, draft, audience="residents"))[0]
    runner = web.AppRunner(make_app(service))
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/feeds/cap/{public}.xml") as r:
            assert r.status == 200
            body = await r.read()
    finally:
        await runner.cleanup()
        await service.close()
    SCHEMA.validate(body.decode("utf-8"))
    assert f"140581-kepu-{public}".encode() in verify(body, cert.read_bytes())


def test_a_signing_key_without_its_certificate_stops_start_up_with_a_clear_error(config_dir: Path,
                                                                                 tmp_path: Path) -> None:
    from alerts.settings import ConfigError, load_settings
    from tests.test_capout import signing_pair

    key, _cert = signing_pair(tmp_path)
    settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                                              "ALERTS_CAP_SIGNING_KEY": str(key)})
    with pytest.raises(ConfigError, match="ALERTS_CAP_SIGNING_CERT"):
        Service(settings)
