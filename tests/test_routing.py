"""Routing and grouping: levels, areas, status and exercise, supersede by level or Update, cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alerts.app import Service
from alerts.areas import Areas
from alerts.clock import SHANGHAI, ManualClock
from alerts.feeds.cap import parse_alert
from alerts.outbox.fanout import fan_out
from alerts.recipients import ImportReport, parse_residents_csv, upsert_residents
from alerts.routing import matches
from alerts.settings import load_settings
from alerts.settings.areas import AreasConfig
from alerts.settings.chains import ChainsConfig, CombineSection
from alerts.settings.routes import Match
from alerts.store import drafts as draft_store
from alerts.store.tables import deliveries

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "cap"
ALERT = (DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_bytes()
CANCEL = (DATA / "constructed-gaoping-rainstorm-orange-cancel.cap12.xml").read_bytes()
TEST_PHONE = "+8613900000009"
GEOCODES = b"""      <geocode>140581101000</geocode>
      <geocode>140581102000</geocode>
      <geocode>140581103000</geocode>"""


def variant(identifier: str, *, level: str = "orange", geocodes: list[str] | None = None, status: str = "Actual",
            hazard_code: str = "11B03") -> bytes:
    """The Gaoping sample with its own identifier, level, areas, status or hazard."""
    words = {"blue": ("Blue", "蓝色", "[Ⅳ级/一般]"), "yellow": ("Yellow", "黄色", "[Ⅲ级/较重]"),
             "orange": ("Orange", "橙色", "[Ⅱ级/严重]"), "red": ("Red", "红色", "[Ⅰ级/特别严重]")}[level]
    data = (ALERT.replace(b"14058141600000_20260712053000", identifier.encode())
            .replace(b"<severity>Orange</severity>", f"<severity>{words[0]}</severity>".encode())
            .replace("橙色".encode(), words[1].encode()).replace("[Ⅱ级/严重]".encode(), words[2].encode())
            .replace(b"<status>Actual</status>", f"<status>{status}</status>".encode())
            .replace(b"<eventType>11B03</eventType>", f"<eventType>{hazard_code}</eventType>".encode()))
    if hazard_code != "11B03":
        data = data.replace("暴雨".encode(), "高温".encode())
    if geocodes is not None:
        data = data.replace(GEOCODES, "".join(f"<geocode>{g}</geocode>" for g in geocodes).encode())
        data = data.replace(b"<polygon>35.823,112.870 35.823,113.010 35.705,113.010 35.705,112.870 35.823,112.870"
                            b"</polygon>", b"")
    return data


@pytest.fixture
async def service(config_dir: Path, database: Any) -> AsyncIterator[Service]:
    workflow = config_dir / "workflow.yaml"
    workflow.write_text(workflow.read_text(encoding="utf-8").replace("  phones: []", f'  phones: ["{TEST_PHONE}"]'),
                        encoding="utf-8")
    settings = load_settings(config_dir, env={})
    svc = Service(settings, clock=ManualClock(datetime(2026, 7, 12, 5, 35, tzinfo=SHANGHAI)), db=database)
    yield svc
    for channel in svc.channels.values():
        await channel.close()


def plan_of(service: Service, data: bytes) -> Any:
    return service.route(service.hazards.normalise(parse_alert(data)))


def audiences(plan: Any) -> set[str]:
    return {d.audience for d in plan.drafts}


# --- the route tree ------------------------------------------------------------------------------


def test_orange_reaches_enterprises_and_yellow_rainstorm_reaches_them_for_the_mines(service: Service) -> None:
    orange = plan_of(service, variant("o1"))
    yellow = plan_of(service, variant("y1", level="yellow"))
    assert [m.route for m in orange.matched] == ["(defaults)", "warnings", "warnings.mine_duty", "warnings.severe"]
    assert [m.route for m in yellow.matched] == ["(defaults)", "warnings", "warnings.mine_duty", "warnings.routine"]
    # Rainstorm has texts of its own for 妇联's family groups and 科技志愿服务队 (optional yields).
    assert audiences(orange) == {"residents", "schools", "enterprises", "villages", "families", "volunteers"}
    # Coal mines must prepare to stop production and withdraw people (停产撤人) before orange.
    assert audiences(yellow) == {"residents", "schools", "enterprises", "villages"}
    assert len([d for d in orange.drafts if d.audience == "enterprises"]) == 1
    heat_yellow = plan_of(service, variant("h1", level="yellow", hazard_code="11B09"))
    assert "enterprises" not in audiences(heat_yellow)
    zh = {d.template for d in orange.drafts if d.channel == "sms" and d.language == "zh-CN"}
    assert zh == {"rainstorm.orange.residents.sms"}
    assert {d.template for d in yellow.drafts if d.channel == "sms" and d.language == "zh-CN"} == {
        "rainstorm.yellow.residents.sms"}
    # Residents who asked for English get the English text where the library has one.
    assert {d.template for d in orange.drafts if d.language == "en"} == {"rainstorm.orange-red.residents.sms.en"}


def test_only_our_townships_are_named_and_other_regions_match_nothing(service: Service) -> None:
    one = plan_of(service, variant("a1", geocodes=["140581105000"]))
    assert one.areas == ["140581105"] and all(d.areas == ["140581105"] for d in one.drafts)
    whole = plan_of(service, variant("a2", geocodes=["140581000000"]))
    assert len(whole.areas) == 16  # 3 街道, 9 镇, 4 乡 (永禄乡 included)
    elsewhere = plan_of(service, variant("a3", geocodes=["130602000000"]))
    assert elsewhere.areas == [] and elsewhere.matched == [] and elsewhere.drafts == []


def test_polygons_select_townships_when_boundaries_are_configured(service: Service) -> None:
    square = {"type": "Polygon", "coordinates": [[[112.9, 35.7], [113.0, 35.7], [113.0, 35.8], [112.9, 35.8],
                                                  [112.9, 35.7]]]}
    far = {"type": "Polygon", "coordinates": [[[100.0, 20.0], [100.1, 20.0], [100.1, 20.1], [100.0, 20.0]]]}
    areas = Areas(AreasConfig.model_validate({"region_code": "140581", "region_name": "高平市", "areas": [
        {"code": "140581101", "name": "米山镇", "geometry": square},
        {"code": "140581102", "name": "三甲镇", "geometry": far}]}))
    alert = service.hazards.normalise(parse_alert(variant("p1", geocodes=[]).replace(
        b"<areaDesc>", b"<polygon>35.75,112.95 35.75,112.98 35.78,112.98 35.75,112.95</polygon><areaDesc>")))
    assert alert.infos[0].areas[0].geocodes == []
    assert areas.covered(alert) == ["140581101"]


def test_unknown_hazards_and_system_or_draft_messages_route_nowhere(service: Service) -> None:
    unknown = plan_of(service, variant("u1", hazard_code="99Z99").replace("高温".encode(), "某事件".encode()))
    assert unknown.drafts == []
    for status in ("System", "Draft"):
        assert plan_of(service, variant(f"s-{status}", status=status)).drafts == []


def test_match_conditions_explain_themselves(service: Service) -> None:
    alert = service.hazards.normalise(parse_alert(variant("m1", level="yellow")))
    areas = ["140581101"]
    assert matches(Match(level_at_least="yellow"), alert, areas) == (True, ["level yellow ≥ yellow"])
    assert matches(Match(level_at_least="orange"), alert, areas)[0] is False
    assert matches(Match(level_exactly=["yellow"]), alert, areas)[0] is True
    assert matches(Match(level_exactly=["blue", "red"]), alert, areas)[0] is False
    assert matches(Match(sender=["高平市*"]), alert, areas)[0] is True
    assert matches(Match(sender=["晋城市气象台"]), alert, areas)[0] is False
    assert matches(Match(area_prefix=["140581102"]), alert, areas)[0] is False
    assert matches(Match(months=[7, 8]), alert, areas) == (True, ["month 7 in [7, 8]"])
    assert matches(Match(months=[12]), alert, areas)[0] is False
    assert matches(Match(status=["Exercise"]), alert, areas)[0] is False


# --- drafts: exercise, supersede, cancel ---------------------------------------------------------


async def draft_state(service: Service, draft_id: int) -> str:
    async with service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
    assert record is not None
    return record.state


async def test_exercise_drafts_reach_only_the_test_audience(service: Service) -> None:
    async with service.db.write() as conn:
        rows, problems = parse_residents_csv((ROOT / "config/demo/residents.csv").read_text(), service.areas)
        assert not problems and rows
        await upsert_residents(conn, rows, at=service.clock.now(), report=ImportReport())
    intake = await service.receive(variant("x1", status="Exercise"), source="test")
    [draft_id] = intake.drafts.created
    async with service.db.write() as conn:
        record = await draft_store.get(conn, draft_id)
        assert record is not None and record.row.exercise
        await fan_out(conn, record.row, record.messages, now=service.clock.now(), test_phones=[TEST_PHONE])
        addresses = {r.address for r in await conn.execute(select(deliveries))}
    assert addresses == {TEST_PHONE}


async def test_a_higher_level_supersedes_pending_lower_drafts_for_the_same_hazard_and_area(service: Service) -> None:
    # Concurrent warnings are combined (tests/test_combine.py); here each draft stands alone.
    service.follower.config = ChainsConfig(combine=CombineSection(window_seconds=0))
    yellow = await service.receive(variant("y1", level="yellow"), source="test")
    heat = await service.receive(variant("h1", level="yellow", hazard_code="11B09"), source="test")
    elsewhere = await service.receive(variant("y2", level="yellow", geocodes=["140581203000"]), source="test")
    orange = await service.receive(variant("o1", level="orange"), source="test")
    assert orange.drafts.superseded == yellow.drafts.created
    assert await draft_state(service, yellow.drafts.created[0]) == "superseded"
    assert await draft_state(service, heat.drafts.created[0]) == "pending"  # another hazard
    assert await draft_state(service, elsewhere.drafts.created[0]) == "pending"  # another township
    # A lower level never supersedes a higher one.
    later_yellow = await service.receive(variant("y3", level="yellow"), source="test")
    assert later_yellow.drafts.superseded == []
    assert await draft_state(service, orange.drafts.created[0]) == "pending"


async def test_an_update_supersedes_the_pending_drafts_of_its_chain(service: Service) -> None:
    first = await service.receive(ALERT, source="test")
    update = (CANCEL.replace(b"<msgType>Cancel</msgType>", b"<msgType>Update</msgType>")
              .replace(b"14058141600000_20260712113000", b"14058141600000_20260712080000")
              .replace(b"<urgency>Past</urgency>", b"<urgency>Immediate</urgency>")
              .replace("解除".encode(), "更新".encode()))
    second = await service.receive(update, source="test")
    assert second.drafts.superseded == first.drafts.created and second.drafts.created
    async with service.db.read() as conn:
        record = await draft_store.get(conn, second.drafts.created[0])
    assert record is not None and record.row.kind == "update"
    assert record.row.group_key == f"chain:{first.alert_id}"


async def test_a_cancel_withdraws_pending_drafts_and_proposes_no_all_clear_when_nothing_went_out(
        service: Service) -> None:
    first = await service.receive(ALERT, source="test")
    service.clock.advance(hours=6)  # type: ignore[attr-defined]
    cancel = await service.receive(CANCEL, source="test")
    assert cancel.drafts.withdrawn == first.drafts.created
    assert cancel.drafts.created == []
    assert await draft_state(service, first.drafts.created[0]) == "withdrawn"


async def test_a_cancel_proposes_the_all_clear_for_audiences_already_reached(service: Service) -> None:
    first = await service.receive(ALERT, source="test")
    [draft_id] = first.drafts.created
    now = service.clock.now()
    async with service.db.write() as conn:
        for current, wanted in (("pending", "approved"), ("approved", "dispatching"), ("dispatching", "sent")):
            assert await draft_store.transition(conn, draft_id, current, wanted, at=now, by="test", reason="sent")
    service.clock.advance(hours=6)  # type: ignore[attr-defined]
    cancel = await service.receive(CANCEL, source="test")
    [all_clear_id] = cancel.drafts.created
    async with service.db.read() as conn:
        record = await draft_store.get(conn, all_clear_id)
    assert record is not None
    assert record.row.kind == "all_clear" and record.row.parent_draft_id == draft_id and record.state == "pending"
    # The SMS, and its spoken version (loudspeakers read the all-clear; nobody is phoned for one).
    assert [(m.audience, m.channel, m.template_id) for m in record.messages] == [
        ("residents", "sms", "rainstorm.all_clear.residents.sms"),
        ("residents", "voice", "rainstorm.all_clear.residents.voice")]


async def test_a_cancel_received_first_means_the_late_alert_is_never_drafted(service: Service) -> None:
    cancel = await service.receive(CANCEL, source="test")
    assert cancel.drafts.created == []
    late = await service.receive(ALERT, source="test")
    assert late.alert_id is not None and late.drafts.created == []


async def test_a_draft_expires_with_its_alert(service: Service) -> None:
    # The expiry sweep withdraws a pending draft when its alert expires, so the draft carries the expiry.
    first = await service.receive(ALERT, source="test")
    async with service.db.read() as conn:
        record = await draft_store.get(conn, first.drafts.created[0])
    assert record is not None
    expected = datetime(2026, 7, 12, 17, 30, tzinfo=SHANGHAI)
    assert abs(record.row.expires_at - expected) < timedelta(seconds=1)


# --- coverage: every CMA signal level is routed to reviewed texts that fit ------------------------

CMA_SIGNALS = {
    "typhoon": "blue yellow orange red", "rainstorm": "blue yellow orange red",
    "blizzard": "blue yellow orange red", "cold_wave": "blue yellow orange red",
    "gale": "blue yellow orange red", "sandstorm": "yellow orange red", "heat": "yellow orange red",
    "drought": "orange red", "lightning": "yellow orange red", "hail": "orange red",
    "frost": "blue yellow orange", "fog": "yellow orange red", "haze": "yellow orange red",
    "road_icing": "yellow orange red",
}


def as_hazard(service: Service, hazard: str, level: str, msg_type: str = "Alert") -> Any:
    """The Gaoping sample alert (its issuer, times and townships) as another hazard and level."""
    from alerts.model import Level

    alert = service.hazards.normalise(parse_alert(ALERT))
    infos = [i.model_copy(update={"hazard": hazard, "level": Level(level)}) for i in alert.infos]
    return alert.model_copy(update={"infos": infos, "msg_type": msg_type})


def test_every_cma_signal_level_routes_to_a_reviewed_residents_sms_and_schools_notice_that_fit(
        service: Service) -> None:
    from alerts.content.sms import check

    missing: list[str] = []
    for hazard, levels in CMA_SIGNALS.items():
        for level in levels.split():
            alert = as_hazard(service, hazard, level)
            plan = service.route(alert)
            wanted = [d for d in plan.drafts if (d.audience, d.channel) in (("residents", "sms"), ("schools", "notice"))
                      and d.language == "zh-CN"]
            if len(wanted) != 2 or plan.problems:
                missing.append(f"{hazard} {level}: {[(d.audience, d.channel) for d in plan.drafts]} {plan.problems}")
                continue
            items, problems = service.drafter.render_planned(alert, wanted, service.clock.now())
            assert not problems, problems
            for item in items:
                assert item.template_reviewed, f"{item.template_id} is not reviewed"
                if item.channel == "sms":
                    assert check(item.text, service.sms_rules) == [], (item.template_id, item.text)
    assert missing == []


def test_every_cma_signal_cancel_routes_to_a_reviewed_all_clear_sms(service: Service) -> None:
    for hazard, levels in CMA_SIGNALS.items():
        plan = service.route(as_hazard(service, hazard, levels.split()[-1], msg_type="Cancel"))
        assert [(d.audience, d.channel, d.stage) for d in plan.drafts if d.language == "zh-CN"] == [
            ("residents", "sms", "all_clear"), ("residents", "voice", "all_clear")], hazard


# --- the root and the remaining match keys -------------------------------------------------------


def test_the_root_defaults_apply_to_every_route_and_give_the_language(service: Service) -> None:
    from alerts.routing import Router
    from alerts.settings.routes import RoutesConfig

    config = RoutesConfig.model_validate({
        "defaults": {"match": {"months": [1]}, "language": "en"},
        "routes": [{"name": "all", "yields": [{"audience": "residents", "channel": "sms"}]}]})
    router = Router(config, service.areas, service.router.templates)
    alert = service.hazards.normalise(parse_alert(ALERT))  # sent in July
    assert router.plan(alert).matched == []
    config = RoutesConfig.model_validate({
        "defaults": {"match": {"months": [7]}, "language": "en"},
        "routes": [{"name": "all", "yields": [{"audience": "residents", "channel": "sms"}]}]})
    plan = Router(config, service.areas, service.router.templates).plan(alert)
    assert [m.route for m in plan.matched] == ["(defaults)", "all"]
    assert [(d.template, d.language) for d in plan.drafts] == [("rainstorm.orange-red.residents.sms.en", "en")]


def test_source_matches_the_issuing_system(service: Service) -> None:
    alert = service.hazards.normalise(parse_alert(ALERT)).model_copy(update={"source": "CMA-CAP-Jincheng"})
    assert matches(Match(source=["CMA-CAP-*"]), alert, []) == (True, ["source CMA-CAP-Jincheng"])
    assert matches(Match(source=["NMC"]), alert, [])[0] is False


def test_an_optional_yield_appears_only_where_the_library_has_the_text(config_dir: Path) -> None:
    from alerts.model import Alert, Area, Geocode, Info, Level
    from alerts.routing import build_router
    from alerts.settings import load_settings

    router = build_router(load_settings(config_dir, env={}))

    def plan(hazard: str) -> list[tuple[str, str]]:
        info = Info(language="zh-CN", hazard=hazard, level=Level.orange,
                    areas=[Area(desc="米山镇", geocodes=[Geocode(value="140581101000")])])
        alert = Alert(identifier="x", sender="s", sent="2026-07-12T05:30:00+08:00", infos=[info])
        result = router.plan(alert)
        assert result.problems == []
        return [(d.audience, d.language) for d in result.drafts if d.channel == "sms"]

    assert plan("heat") == [("residents", "zh-CN"), ("residents", "en")]
    assert plan("lightning") == [("residents", "zh-CN")]  # no English lightning text: nothing, and no error
