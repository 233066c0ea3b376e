"""Organisations: CSV import with a report, contacts encrypted at rest and masked, IM groups reached end to end."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import select

from alerts.areas import Areas
from alerts.channels.webhook import TargetError
from alerts.crypto import Cipher, cipher_from, mask_email, mask_url
from alerts.organisations import ContactBook, parse_organisations_csv, reach
from alerts.settings import ConfigError, load_settings
from alerts.store.tables import contacts, deliveries
from tests.channels.notices_support import KEY, approve_sample, import_organisations, make_service
from tests.channels.test_webhook import (  # noqa: F401 - the robots fixture is used by name
    DING_SECRET,
    DING_TOKEN,
    WECOM_KEY,
    Robots,
    robots,
)

WECOM = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"


def areas(config_dir: Path) -> Areas:
    return Areas(load_settings(config_dir, env={}).areas)


def test_every_bad_row_is_reported_precisely_and_good_rows_are_kept(config_dir: Path) -> None:
    text = (
        "key,name,kind,area,contacts\n"
        f"s1,高平一中,school,北城街道,wecom:{WECOM}; email:head@gp1.school.example.cn\n"
        "s2,某学校,university,北城街道,notice:门口宣传栏\n"
        "s3,某企业,enterprise,北京市,notice:厂区宣传栏\n"
        f"s4,某村,village,米山镇,wecom:http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}\n"
        "s5,某社区,community,东城街道,webhook:https://screens.example.cn/hook\n"
        "s6,某矿,coal_mine,马村镇,email:not-an-address\n"
        f"s7,某村,village,米山镇,dingtalk:https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}|secret=abc\n"
        "s1,重复,school,北城街道,notice:x\n"
        "s8,某村,village,米山镇,fax:12345\n"
        "s9,某村,village,米山镇,sms:+8613800138000|secret=x\n"
    )
    rows, problems = parse_organisations_csv(text, areas(config_dir))
    assert [r.key for r in rows] == ["s1"]
    assert [c.channel for c in rows[0].contacts] == ["wecom", "email"]
    shown = "\n".join(str(p) for p in problems)
    expected = [
        "row 3: kind: 'university': expected one of school, enterprise, coal_mine, community, village",
        "row 4: area: '北京市' is not a township code or name in areas.yaml",
        "row 5: contacts[1] (wecom): robot URL http://qyapi.weixin.qq.com/…693a…: plain http to qyapi.weixin.qq.com is refused",
        "row 6: contacts[1] (webhook): a generic webhook needs '|secret=...'",
        "row 7: contacts[1] (email): 'not-an-address' is not an e-mail address",
        "row 8: contacts[1] (dingtalk): a DingTalk signing secret starts with 'SEC'",
        "row 9: key: 's1' repeats row 2",
        "row 10: contacts[1]: starts with 'fax'",
        "row 11: contacts[1] (sms): a secret is only used by dingtalk, feishu and webhook contacts",
    ]
    for line in expected:
        assert line in shown, f"missing {line!r} in\n{shown}"
    # A report names the problem, never the robot key.
    assert WECOM_KEY not in shown and DING_TOKEN not in shown


def test_a_file_without_the_needed_columns_is_refused_as_a_whole(config_dir: Path) -> None:
    rows, [problem] = parse_organisations_csv("key,name,area\nx,y,北城街道\n", areas(config_dir))
    assert rows == [] and str(problem).startswith("row 1: kind,contacts: missing column(s)")


def test_masks_keep_only_host_and_a_short_prefix_of_the_key() -> None:
    assert mask_url(WECOM) == "https://qyapi.weixin.qq.com/…693a…"
    assert "5aaa" not in mask_url(WECOM)
    assert mask_email("zhang.san@school.example.cn") == "z***@school.example.cn"
    assert KEY not in repr(Cipher(KEY))


async def test_contacts_are_encrypted_at_rest_resolved_at_send_time_and_updated_on_reimport(
        config_dir: Path, database_url: str) -> None:
    service = await make_service(config_dir, database_url)
    try:
        first = await import_organisations(service, (
            "key,name,kind,area,contacts\n"
            f"gp1,高平一中,school,北城街道,\"wecom:{WECOM}; dingtalk:https://oapi.dingtalk.com/robot/send?"
            f"access_token={DING_TOKEN}|secret={DING_SECRET}; email:head@gp1.school.example.cn\"\n"))
        assert (first.added, first.contacts_added) == (1, 3)
        async with service.db.read() as conn:
            stored = list(await conn.execute(select(contacts).order_by(contacts.c.id)))
        for row in stored:
            assert WECOM_KEY not in row.address_enc and DING_TOKEN not in row.address_enc and "head@" not in row.address_enc
            assert row.secret_enc is None or DING_SECRET not in row.secret_enc
        assert [r.address_hint for r in stored] == ["https://qyapi.weixin.qq.com/…693a…",
                                                    "https://oapi.dingtalk.com/…c0ff…", "h***@gp1.school.example.cn"]
        book = ContactBook(service.db, cipher_from(service.settings.secrets))
        ding = await book.resolve(f"contact:{stored[1].id}")
        assert ding.address.endswith(DING_TOKEN) and ding.secret == DING_SECRET and ding.organisation == "高平一中"
        assert DING_SECRET not in repr(ding) and DING_TOKEN not in repr(ding)

        again = await import_organisations(service, (
            "key,name,kind,area,contacts\n"
            f"gp1,高平市第一中学,school,北城街道,wecom:{WECOM}; email:head@gp1.school.example.cn|name=王校长\n"))
        assert (again.added, again.updated) == (0, 1)
        assert (again.contacts_added, again.contacts_updated, again.contacts_removed) == (0, 1, 1)
        with pytest.raises(TargetError, match="no longer exists"):
            await book.resolve(f"contact:{stored[1].id}")
        same = await import_organisations(service, (
            "key,name,kind,area,contacts\n"
            f"gp1,高平市第一中学,school,北城街道,wecom:{WECOM}; email:head@gp1.school.example.cn|name=王校长\n"))
        assert (same.unchanged, same.updated, same.contacts_added) == (1, 0, 0)
        with pytest.raises(TargetError, match="not set"):
            await ContactBook(service.db, None).resolve(f"contact:{stored[0].id}")
    finally:
        await service.close()


async def test_start_up_refuses_when_contacts_exist_but_the_key_is_missing_or_wrong(
        config_dir: Path, database_url: str) -> None:
    service = await make_service(config_dir, database_url)
    try:
        await import_organisations(service)
    finally:
        await service.close()
    from alerts.app import Service

    for env, expected in (({}, "ALERTS_ENCRYPTION_KEY: not set, but the database holds 3 organisation contact(s)"),
                          ({"ALERTS_ENCRYPTION_KEY": Fernet.generate_key().decode()}, "cannot be decrypted"),
                          ({"ALERTS_ENCRYPTION_KEY": "too-short"}, "not a valid Fernet key")):
        settings = load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url, **env})
        with pytest.raises(ConfigError) as caught:
            Service(settings)
        assert expected in "\n".join(caught.value.lines)


def test_cli_import_prints_a_report_and_needs_the_key(config_dir: Path, tmp_path: Path) -> None:
    from alerts.cli import cli

    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text("key,name,kind,area,contacts\n"
                        f"gp1,高平一中,school,北城街道,wecom:{WECOM}\n"
                        "bad,某校,school,火星,notice:宣传栏\n", encoding="utf-8")
    env = {"ALERTS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    refused = CliRunner().invoke(cli, ["organisations", "import", str(csv_file), "--config", str(config_dir)], env=env)
    assert refused.exit_code == 2 and "ALERTS_ENCRYPTION_KEY is not set" in refused.output
    done = CliRunner().invoke(cli, ["organisations", "import", str(csv_file), "--config", str(config_dir)],
                              env={**env, "ALERTS_ENCRYPTION_KEY": KEY})
    assert done.exit_code == 0, done.output
    assert "row 3: area: '火星' is not a township code" in done.output
    assert "organisations 1 added, 0 updated, 0 unchanged, 1 rows rejected; contacts 1 added" in done.output
    assert WECOM_KEY not in done.output

    async def audited() -> list[Any]:
        from alerts.store.engine import Database
        from alerts.store.tables import audit_log

        db = Database(env["ALERTS_DATABASE_URL"])
        try:
            async with db.read() as conn:
                return list(await conn.execute(select(audit_log).where(audit_log.c.action == "organisations.import")))
        finally:
            await db.close()

    [entry] = asyncio.run(audited())
    assert entry.after["added"] == 1 and entry.after["rejected"] == 1 and WECOM_KEY not in str(entry.after)


async def test_village_im_groups_receive_an_approved_warning_and_failures_never_show_the_url(
        config_dir: Path, database_url: str, robots: Robots, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    caplog.set_level(logging.INFO)
    routes = config_dir / "routes.yaml"
    text = routes.read_text(encoding="utf-8")
    line = "          - {audience: villages, channel: notice, stage: warning}\n"
    assert line in text
    routes.write_text(text.replace(line, line + "          - {audience: villages, channel: im, stage: warning}\n", 1),
                      encoding="utf-8")
    service = await make_service(config_dir, database_url)
    try:
        robots.replies["dingtalk"] = [(200, {"errcode": 130101, "errmsg": "send too fast"}, {})]
        await import_organisations(service, (
            "key,name,kind,area,contacts\n"
            f"v1,三甲村,village,三甲镇,wecom:{robots.base}/cgi-bin/webhook/send?key={WECOM_KEY}\n"
            f"v2,米山村,village,米山镇,dingtalk:{robots.base}/robot/send?access_token={DING_TOKEN}|secret={DING_SECRET}\n"
            "v3,神农村,village,神农镇,wecom:" + robots.base + "/cgi-bin/webhook/send?key=revoked-robot-key\n"))
        draft_id = await approve_sample(service)
        async with service.db.read() as conn:
            found = await reach(conn, kinds=["village"], areas=["140581101", "140581102", "140581103"],
                                contact_channels=["wecom", "dingtalk"])
        assert {r.organisation: r.channels for r in found} == {
            "三甲村": [f"wecom {mask_url(robots.base + '/cgi-bin/webhook/send?key=' + WECOM_KEY)}"],
            "米山村": [f"dingtalk {mask_url(robots.base + '/robot/send?access_token=' + DING_TOKEN)}"],
            "神农村": [f"wecom {mask_url(robots.base + '/cgi-bin/webhook/send?key=revoked-robot-key')}"]}
        await service.worker.drain()
        async with service.db.read() as conn:
            rows = {r.channel + ":" + r.recipient_key: r for r in await conn.execute(
                select(deliveries).where(deliveries.c.channel.in_(["wecom", "dingtalk"])))}
        states = sorted((r.channel, r.state, r.error_code) for r in rows.values())
        assert states == [("dingtalk", "queued", "dingtalk_130101"), ("wecom", "failed", "wecom_93000"),
                          ("wecom", "sent", None)]
        [got] = [r for r in robots.received if r["kind"] == "wecom"]
        assert "转告每户" in got["content"] or "预警" in got["content"]
        # Our own log lines and stored errors (the stand-in robots' access log is theirs, not ours).
        ours = "".join(r.getMessage() for r in caplog.records if r.name.startswith("alerts"))
        shown = ours + "".join(r.error for r in rows.values())
        assert "三甲村" in ours
        assert WECOM_KEY not in shown and DING_TOKEN not in shown and DING_SECRET not in shown
        assert "revoked-robot-key" not in shown
        from alerts.organisations import reach_for_draft

        async with service.db.read() as conn:
            per_message = await reach_for_draft(conn, draft_id)
        shown_per_message = {m: [(r.organisation, r.channels) for r in found] for m, found in per_message.items()}
        im_lists = [v for v in shown_per_message.values() if v and v[0][1][0].startswith(("wecom", "dingtalk"))]
        assert len(im_lists) == 1 and sorted(o for o, _ in im_lists[0]) == ["三甲村", "神农村", "米山村"]
        # The API's draft shows the same per message, masked.
        from alerts.store import drafts as draft_store
        from alerts.web.views import draft_json

        async with service.db.read() as conn:
            record = await draft_store.get(conn, draft_id)
        assert record is not None
        body = draft_json(record, "【高平应急科普】", reach=per_message)
        im = next(m for m in body["messages"] if m["channel"] == "im")
        assert sorted(o["name"] for o in im["organisations"]) == ["三甲村", "神农村", "米山村"]
        assert WECOM_KEY not in str(body) and DING_SECRET not in str(body)
        assert all("organisations" not in m for m in body["messages"] if m["audience"] == "residents")
    finally:
        await service.close()
