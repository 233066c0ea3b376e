"""HazardTable: the config tables say which hazard and level a warning is; bad config is named."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from alerts.hazards import DEFAULT_PATH, HazardConfigError, HazardTable
from alerts.model import Alert, Geocode, Info, Level

B, Y, O, R = Level.blue, Level.yellow, Level.orange, Level.red  # noqa: E741 - short for the tables below
TABLE = HazardTable.load(DEFAULT_PATH)


def classify(event: str = "", headline: str = "", severity: str = "", codes: tuple[tuple[str, str], ...] = ()
             ) -> tuple[str | None, Level | None]:
    info = Info(event=event, headline=headline, severity=severity,
                event_codes=[Geocode(name=n, value=v) for n, v in codes])
    return TABLE.classify(info)


# DOMAIN.md §2: the signal types and the levels each has.
@pytest.mark.parametrize("key,zh,levels", [
    ("typhoon", "台风", (B, Y, O, R)), ("rainstorm", "暴雨", (B, Y, O, R)), ("blizzard", "暴雪", (B, Y, O, R)),
    ("cold_wave", "寒潮", (B, Y, O, R)), ("gale", "大风", (B, Y, O, R)), ("sandstorm", "沙尘暴", (Y, O, R)),
    ("heat", "高温", (Y, O, R)), ("drought", "干旱", (O, R)), ("lightning", "雷电", (Y, O, R)),
    ("hail", "冰雹", (O, R)), ("frost", "霜冻", (B, Y, O)), ("fog", "大雾", (Y, O, R)), ("haze", "霾", (Y, O, R)),
    ("road_icing", "道路结冰", (Y, O, R)),
])
def test_signal_names_and_levels_follow_the_cma_table(key: str, zh: str, levels: tuple[Level, ...]) -> None:
    assert TABLE.name_zh(key) == zh
    assert TABLE.levels(key) == levels


def test_keys_cover_the_hazards_the_service_names() -> None:
    expected = {"rainstorm", "blizzard", "cold_wave", "gale", "sandstorm", "heat", "drought", "lightning", "hail",
                "frost", "fog", "haze", "road_icing", "typhoon", "tornado", "thunderstorm_gale", "low_temperature",
                "forest_fire_danger", "flash_flood", "geological_hazard", "flood", "waterlogging", "earthquake",
                "landslide", "debris_flow", "forest_fire", "infectious_disease", "thunderstorm"}
    assert expected <= set(TABLE.keys())
    assert TABLE.name_en("road_icing") == "Road icing"


def test_unknown_key_names_what_exists() -> None:
    with pytest.raises(KeyError, match="tsunami"):
        TABLE.name_zh("tsunami")


@pytest.mark.parametrize("codes,expected", [
    ((("GB/T 35965.1 eventType", "11B03"),), ("rainstorm", None)),
    ((("", "11b14"),), ("lightning", None)),
    ((("", "11B03_red"),), ("rainstorm", R)),
    ((("", "11A51"),), ("flash_flood", None)),
    ((("", "11D02"),), ("debris_flow", None)),
    ((("", "11C02"),), ("earthquake", None)),
    ((("", "0203"),), ("rainstorm", O)),  # weather.com.cn: type 02, level 03
    ((("", "0704"),), ("heat", R)),
    ((("", "1401"),), ("road_icing", B)),
    ((("", "p0002003"),), ("rainstorm", Y)),  # NMC: last digit 3 = yellow
    ((("", "p0009001"),), ("lightning", R)),
    ((("SAME", "TOR"),), ("tornado", None)),
    ((("same", "ffw"),), ("flash_flood", None)),
    ((("FIPS", "TOR"),), (None, None)),  # SAME codes only count under a SAME valueName
    ((("profile:CAP-CP:Event:0.4", "rainfall"),), ("rainstorm", None)),  # a code value that is a name
])
def test_event_codes_of_every_scheme(codes: tuple[tuple[str, str], ...], expected: tuple[str | None, Level | None]
                                     ) -> None:
    assert classify(codes=codes) == expected


@pytest.mark.parametrize("event,hazard", [
    ("暴雨", "rainstorm"), ("雷雨大风", "thunderstorm_gale"), ("大风", "gale"), ("道路结冰", "road_icing"),
    ("森林火险", "forest_fire_danger"), ("森林火灾", "forest_fire"), ("低温冻害", "low_temperature"),
    ("山洪灾害气象风险", "flash_flood"), ("地质灾害气象风险", "geological_hazard"), ("雷暴", "thunderstorm"),
    ("城市内涝", "waterlogging"), ("霾", "haze"), ("沙尘暴", "sandstorm"),
    ("Flash Flood Warning", "flash_flood"), ("Flood Warning", "flood"),
    ("Severe Thunderstorm Warning", "thunderstorm_gale"), ("SEVERE THUNDERSTORM", "thunderstorm_gale"),
    ("Tornado Warning", "tornado"), ("Blizzard Warning", "blizzard"), ("Winter Storm Watch", "blizzard"),
    ("Excessive Heat Warning", "heat"), ("Heat Advisory", "heat"), ("Dense Fog Advisory", "fog"),
    ("High Wind Warning", "gale"), ("Wind Chill Warning", "cold_wave"), ("Hurricane Warning", "typhoon"),
    ("Red Flag Warning", "forest_fire_danger"), ("Freeze Warning", "frost"), ("Dust Storm Warning", "sandstorm"),
    ("Air Quality Alert", "haze"), ("Earthquake", "earthquake"), ("thunder", "lightning"),
    ("Ice Storm Warning", "road_icing"), ("Landslide", "landslide"), ("Debris Flow", "debris_flow"),
])
def test_event_names_chinese_and_english(event: str, hazard: str) -> None:
    assert classify(event=event)[0] == hazard


def test_unknown_event_keeps_hazard_none_and_the_info() -> None:
    alert = Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, tzinfo=UTC),
                  infos=[Info(event="Child Abduction", severity="Severe")])
    out = TABLE.normalise(alert)
    assert len(out.infos) == 1
    assert out.infos[0].hazard is None
    assert out.infos[0].event == "Child Abduction"


def test_headline_names_the_hazard_when_the_event_does_not() -> None:
    assert classify(event="气象预警", headline="高平市气象台发布暴雨橙色预警[Ⅱ级/严重]") == ("rainstorm", O)


def test_codes_win_over_names() -> None:
    assert classify(event="大风", codes=(("", "11B03"),))[0] == "rainstorm"


@pytest.mark.parametrize("severity,level", [
    ("Blue", B), ("yellow", Y), ("ORANGE", O), ("Red", R), ("蓝色", B), ("黄色", Y), ("橙色", O), ("红色", R),
])
def test_colour_words_in_severity(severity: str, level: Level) -> None:
    assert classify(event="暴雨", severity=severity) == ("rainstorm", level)


@pytest.mark.parametrize("headline,level", [
    ("高平市气象台发布暴雨橙色预警", O),
    ("高平市气象台发布暴雨预警[Ⅱ级/严重]", O),
    ("发布大风预警【Ⅳ级/一般】", B),
    ("Baoding updates lightning yellow warning [Level III/Heavy]", Y),
    ("lightning warning [Level I/Extreme]", R),
    ("发布暴雨预警[/特别严重]", None),  # a word without a numeral is not the suffix form
    ("storm (I) and (II) explained", None),  # list numbering is not a grade
    ("Red Flag Warning", None),
])
def test_level_from_headline_colour_or_grade_suffix(headline: str, level: Level | None) -> None:
    assert classify(headline=headline)[1] == level


def test_cap_severity_only_when_nothing_better_says_the_level() -> None:
    assert classify(event="暴雨", severity="Minor") == ("rainstorm", B)
    assert classify(event="暴雨", severity="Extreme") == ("rainstorm", R)
    assert classify(event="暴雨", headline="暴雨黄色预警", severity="Extreme") == ("rainstorm", Y)
    assert classify(event="Unknown thing", severity="Severe") == (None, O)
    assert classify(event="暴雨", severity="Unknown") == ("rainstorm", None)


def test_cap_severity_moves_to_the_nearest_level_the_hazard_has() -> None:
    assert classify(event="Heat Advisory", severity="Minor") == ("heat", Y)
    assert classify(event="干旱", severity="Moderate") == ("drought", O)
    assert classify(event="霜冻", severity="Extreme") == ("frost", O)


def test_normalise_fills_every_info_and_shares_across_language_copies() -> None:
    alert = Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, tzinfo=UTC), infos=[
        Info(language="en-US", event="Weather warning"),
        Info(language="zh-CN", event="暴雨", headline="暴雨红色预警"),
    ])
    out = TABLE.normalise(alert)
    assert [(i.hazard, i.level) for i in out.infos] == [("rainstorm", R), ("rainstorm", R)]
    assert alert.infos[0].hazard is None  # the input is left as it was


def test_normalise_does_not_share_between_different_hazards() -> None:
    alert = Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, tzinfo=UTC), infos=[
        Info(event="暴雨"), Info(event="大风"), Info(event="something else"),
    ])
    assert [i.hazard for i in TABLE.normalise(alert).infos] == ["rainstorm", "gale", None]


# -- configuration errors -----------------------------------------------------------------

def write_config(tmp_path: Path, change: dict[str, object] | None = None, text: str | None = None) -> Path:
    path = tmp_path / "hazards.yaml"
    if text is None:
        doc = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
        for dotted, value in (change or {}).items():
            *parents, last = dotted.split(".")
            target = doc
            for part in parents:
                target = target[part]
            if value is None:
                del target[last]
            else:
                target[last] = value
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(HazardConfigError) as caught:
        HazardTable.load(path)
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


def test_bad_level_is_named_with_file_key_path_value_and_expectation(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"hazards.heat.levels": ["yellow", "purple"]})
    message = load_error(path)
    assert str(path) in message
    assert "hazards.heat.levels[1]" in message
    assert "'purple'" in message
    assert "'blue', 'yellow', 'orange' or 'red'" in message


def test_unknown_code_scheme_and_duplicate_code(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"hazards.heat.codes": {"gbt35965": ["11B03"], "cma": ["07"]}})
    message = load_error(path)
    assert "hazards.heat.codes.cma: unknown code scheme — expected one of gbt35965" in message
    assert "hazards.heat.codes.gbt35965[0]: '11B03' — already the code of hazard 'rainstorm'" in message


def test_code_that_cannot_match_its_scheme(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, {"hazards.heat.codes": {"weather_com_cn": ["7"]}}))
    assert "hazards.heat.codes.weather_com_cn[0]: '7' — does not fit" in message


def test_duplicate_name_and_bad_key(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, {"hazards.heat.names": ["暴雨"], "hazards.Bad-Key": {
        "zh": "x", "en": "x", "levels": ["red"]}}))
    assert "hazards.Bad-Key (the key itself): 'Bad-Key' — string should match pattern" in message
    message = load_error(write_config(tmp_path, {"hazards.heat.names": ["暴雨"]}))
    assert "hazards.heat: name '暴雨' — already a name of hazard 'rainstorm'" in message


def test_missing_and_unknown_keys(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, {"hazards.heat.zh": None, "hazards.heat.colour": "red"}))
    assert "hazards.heat.zh: missing" in message
    assert "hazards.heat.colour: unknown key" in message


def test_bad_regular_expressions(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, {"code_schemes.same.pattern": "(?P<kind>[A-Z]{3})"}))
    assert "code_schemes.same.pattern: '(?P<kind>[A-Z]{3})' — the pattern must name the hazard part (?P<type>...)" in message
    message = load_error(write_config(tmp_path, {"text_levels.red": ["红色("]}))
    assert "text_levels.red[0]: '红色(' — not a regular expression" in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = load_error(write_config(tmp_path, text="version: 1\nhazards:\n  heat: [unclosed\n"))
    assert "line" in message and "not valid YAML" in message


def test_missing_file_and_wrong_top_level(tmp_path: Path) -> None:
    assert "cannot be read" in load_error(tmp_path / "nope.yaml")
    assert "expected a mapping" in load_error(write_config(tmp_path, text="- a\n- b\n"))


def test_shipped_config_is_valid_and_every_hazard_has_levels() -> None:
    table = HazardTable.load()
    for key in table.keys():
        assert table.levels(key)
        assert table.name_zh(key)


def test_a_level_stated_in_one_language_beats_a_severity_guess_in_another() -> None:
    alert = Alert(identifier="x", sender="s", sent=datetime(2026, 7, 12, tzinfo=UTC), infos=[
        Info(language="en-US", event="thunder", severity="Moderate"),
        Info(language="zh-CN", event="雷电", headline="雷电橙色预警", severity="Moderate"),
    ])
    assert [(i.hazard, i.level) for i in TABLE.normalise(alert).infos] == [("lightning", O), ("lightning", O)]
