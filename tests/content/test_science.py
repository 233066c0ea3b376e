"""The science in the texts (issue 18): advice that could hurt is refused, and each level has its own action."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.content.library import Library, Template
from alerts.content.lint import HEATING_SEASON_HAZARDS, SEALING, STOVE_CARE, lint, science_problems
from alerts.content.render import build_context, render
from alerts.model import Alert, Info, Level
from tests.content.test_lint import add, codes

HAZARD_ZH = {"flash_flood": "山洪灾害气象风险", "geological_hazard": "地质灾害气象风险", "fog": "大雾", "heat": "高温",
             "rainstorm": "暴雨", "lightning": "雷电"}


def make(text: str, hazard: str = "haze") -> Template:
    return Template(id=f"{hazard}.t.residents.sms", hazard=hazard, levels=(), audience="residents", channel="sms",
                    language="zh-CN", stage="warning", version=1, title="t", text=text, review=None,
                    path=Path(f"{hazard}/t.yaml"))


def rendered(library: Library, hazard: str, level: str, audience: str = "residents", channel: str = "sms",
             stage: str = "warning", language: str = "zh-CN") -> str:
    """The text routing would pick first for this hazard and level, rendered."""
    template = library.find(hazard, level, audience, channel, stage, language)[0]
    info = Info(language="zh-CN", event=HAZARD_ZH[hazard], hazard=hazard, level=Level(level))
    alert = Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, 6, 5, tzinfo=UTC), infos=[info])
    context = build_context(alert, hazard_zh=HAZARD_ZH[hazard], area_phrase="马村镇", area_names=["马村镇"],
                            issuer_default="高平市气象台", previous_level="yellow", stage="new", channel=channel)
    return render(template, context)


# --- the rules ------------------------------------------------------------------------------------


def test_closing_windows_in_the_heating_season_needs_the_coal_stove_vented() -> None:
    assert science_problems(make("请关好门窗，外出戴口罩。"))
    assert science_problems(make("老人留在室内。", hazard="cold_wave"))
    assert not science_problems(make("请关好门窗，燃煤取暖要留缝通风。"))
    # Summer hazards have no coal stove burning.
    assert not science_problems(make("请关好门窗，远离窗户。", hazard="lightning"))


def test_a_text_never_announces_a_school_closure() -> None:
    assert science_problems(make("按防御指南，危险地带的学校停课。", hazard="rainstorm"))
    assert science_problems(make("危险地带的单位停业。", hazard="rainstorm"))
    assert not science_problems(make("停课、调整作息等安排以教育部门通知为准。", hazard="rainstorm"))


def test_smoke_pots_come_with_fire_caution() -> None:
    assert science_problems(make("果园可熏烟防冻。", hazard="frost"))
    assert not science_problems(make("熏烟要远离山林柴草，专人看守。", hazard="frost"))


def test_lint_reports_the_science_problem_on_a_library_copy(library_copy: Path) -> None:
    add(library_copy, "{{ issuer }}于{{ issued }}发布霾预警（{{ areas }}）。请关好门窗。", id="haze.sealed.residents.sms",
        hazard="haze")
    problems = lint(Library.load(library_copy), coverage=False)
    assert "science" in codes(problems, "haze.sealed.residents.sms")


def test_every_shipped_heating_season_text_that_seals_a_home_mentions_the_stove(library: Library) -> None:
    sealing = [t for t in library.templates
               if t.hazard in HEATING_SEASON_HAZARDS and t.language == "zh-CN" and SEALING.search(t.text)]
    assert len(sealing) > 20
    assert [t.id for t in sealing if not STOVE_CARE.search(t.text)] == []


def test_no_shipped_text_announces_a_closure(library: Library) -> None:
    for template in library.templates:
        for sentence in re.split(r"[。；\n]", template.text):
            if "停课" in sentence:
                assert "教育部门" in sentence, template.id
            assert "停业" not in sentence, template.id


# --- each level its own action -------------------------------------------------------------------


@pytest.mark.parametrize("hazard", ["flash_flood", "geological_hazard"])
def test_flash_flood_and_geological_texts_differ_by_level(library: Library, hazard: str) -> None:
    texts = {level: rendered(library, hazard, level) for level in ("blue", "yellow", "orange", "red")}
    assert texts["blue"] != texts["orange"] != texts["red"] != texts["blue"]
    assert re.search("准备转移|转移路线", texts["yellow"]) and "安置点" not in texts["yellow"]
    assert "转移" in texts["orange"] and "安置点" not in texts["orange"]
    assert "立即撤离到村里指定的安置点" in texts["red"] and "不要回家" in texts["red"]
    # A raise to red says to evacuate, a raise to orange to move.
    assert "安置点" in rendered(library, hazard, "red", stage="raise")
    assert "安置点" not in rendered(library, hazard, "orange", stage="raise")
    # The action comes before the source: within 30 characters for a short area phrase.
    action = re.search(r"转移|撤离", texts["red"])
    assert action is not None and action.start() <= 30


def test_fog_red_tells_drivers_on_the_expressway_what_to_do(library: Library) -> None:
    text = rendered(library, "fog", "red")
    assert "高速" in text and "出口" in text and "服务区" in text and "交通管制" in text


@pytest.mark.parametrize(("hazard", "levels"), [("rainstorm", ["blue", "yellow", "orange", "red"]),
                                                ("flash_flood", ["blue", "yellow", "orange", "red"]),
                                                ("geological_hazard", ["blue", "yellow", "orange", "red"]),
                                                ("lightning", ["yellow", "orange", "red"])])
def test_enterprise_notices_name_the_coal_mine_duty_to_stop_and_withdraw(
        library: Library, hazard: str, levels: list[str]) -> None:
    for level in levels:
        notice = rendered(library, hazard, level, audience="enterprises", channel="notice")
        assert "停产撤人" in notice and "《煤矿防治水细则》" in notice and "报告" in notice, (hazard, level)


def test_heat_cites_the_heat_prevention_measures_and_red_stops_all_outdoor_work(library: Library) -> None:
    assert "《防暑降温措施管理办法》" in rendered(library, "heat", "orange")
    assert "40℃以上停止当日露天作业" in rendered(library, "heat", "red")
    assert "Stop all outdoor work" in rendered(library, "heat", "red", language="en")
    assert "hottest 3 hours" in rendered(library, "heat", "orange", language="en")


def test_thunderstorm_gale_has_texts_of_its_own_without_the_gales_fire_advice(library: Library) -> None:
    for level in ("blue", "yellow", "orange", "red"):
        template = library.find("thunderstorm_gale", level, "residents", "sms", "warning")[0]
        assert template.hazard == "thunderstorm_gale" and "防火" not in template.text and "用火" not in template.text
        assert library.find("thunderstorm_gale", level, "enterprises", "notice", "warning")


def test_shipped_issuers_name_the_right_agency_for_earthquakes_and_floods() -> None:
    import yaml

    service = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "service.yaml").read_text("utf-8"))
    assert service["issuers"]["earthquake"] == "中国地震台网"
    assert service["issuers"]["flood"] != service["issuer_default"]


def test_after_a_flood_there_is_recovery_advice(library: Library) -> None:
    texts = " ".join(t.text for t in library.find("flood_season", None, "residents", "sms", "recovery"))
    for topic in ("回家", "烧开", "发霉", "划伤", "心里"):  # return home, water, mould, injuries, mental health
        assert topic in texts, topic
    assert library.find("flood_season", None, "elderly", "sms", "recovery")


def test_everyday_hazards_have_texts_that_fit_two_segments(library: Library) -> None:
    from alerts.content.sms import check

    for theme in ("gas_safety", "drowning", "food_poisoning", "straw_burning", "fireworks", "power_outage",
                  "mine_water"):
        [template] = library.find(theme, None, "residents", "sms", "seasonal")
        assert check(template.text) == [], theme


def test_weather_withdrawals_say_where_to_check_the_official_warning(library: Library) -> None:
    for hazard in ("rainstorm", "heat", "haze", "thunderstorm_gale"):
        [template] = library.find(hazard, "orange", "residents", "sms", "withdraw")
        assert "12121" in template.text, hazard
    assert "12379" in library.get("meteorology_day.seasonal.residents.sms").text


def test_all_clear_texts_lead_with_what_ended(library: Library) -> None:
    for template in library.templates:
        if template.stage == "all_clear" and template.channel == "sms":
            assert not template.text.startswith("{{ issuer }}"), template.id
            assert "紧急状态" not in template.text and "应急状态" not in template.text, template.id


def test_tornado_texts_send_people_to_an_inner_room_on_the_lowest_floor(library: Library) -> None:
    for level in ("blue", "orange", "red"):
        [template, *_] = library.find("tornado", level, "residents", "sms", "warning")
        assert template.hazard == "tornado" and "底层" in template.text and "车内" in template.text


def test_each_change_closes_with_its_own_word(library: Library) -> None:
    words = {"raise": "升级，", "lower": "降级，", "narrow": "调整范围，", "extend": "继续发布，"}
    for template in library.templates:
        if template.channel == "sms" and template.language == "zh-CN" and template.stage in words:
            assert words[template.stage] in template.text, template.id
