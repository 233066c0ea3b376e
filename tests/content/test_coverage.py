"""The shipped library covers what Gaoping needs, and every SMS in it fits and passes the rules."""

from __future__ import annotations

import pytest

from alerts.content.hazards import default_hazards
from alerts.content.library import Library
from alerts.content.lint import WORST_AREA, WORST_ISSUER, worst_contexts
from alerts.content.render import render
from alerts.content.sms import SmsRules, check, measure

# The CMA signal table (《气象灾害预警信号发布与传播办法》), written out here on purpose so that an
# edit of hazards.yaml that drops a level is caught rather than silently followed.
CMA_SIGNALS = {
    "typhoon": "blue yellow orange red", "rainstorm": "blue yellow orange red",
    "blizzard": "blue yellow orange red", "cold_wave": "blue yellow orange red",
    "gale": "blue yellow orange red", "sandstorm": "yellow orange red", "heat": "yellow orange red",
    "drought": "orange red", "lightning": "yellow orange red", "hail": "orange red",
    "frost": "blue yellow orange", "fog": "yellow orange red", "haze": "yellow orange red",
    "road_icing": "yellow orange red",
}
CMA_PAIRS = [(hazard, level) for hazard, levels in CMA_SIGNALS.items() for level in levels.split()]
OTHER_ALERT_HAZARDS = ["flash_flood", "geological_hazard", "earthquake", "forest_fire_danger",
                       "infectious_disease", "co_poisoning", "thunderstorm_gale", "tornado"]
CAMPAIGN_THEMES = ["flood_season", "heat", "co_poisoning", "disaster_prevention", "science_month", "fraud_rumour",
                   "fire_safety", "cold_wave", "meteorology_day", "work_safety",
                   # Everyday hazards outside the warning system (issue 18).
                   "gas_safety", "drowning", "food_poisoning", "straw_burning", "fireworks", "power_outage", "mine_water"]


def reviewed(library: Library, *args: object, **kwargs: object) -> list[str]:
    return [t.id for t in library.find(*args, **kwargs) if t.status == "reviewed"]  # type: ignore[arg-type]


def test_vocabulary_agrees_with_the_cma_table() -> None:
    signals = {h.key: " ".join(h.levels) for h in default_hazards().values() if h.kind == "signal"}
    assert signals == CMA_SIGNALS


@pytest.mark.parametrize(("hazard", "level"), CMA_PAIRS)
def test_every_cma_signal_level_has_a_residents_sms_and_notices(library: Library, hazard: str, level: str) -> None:
    assert reviewed(library, hazard, level, "residents", "sms", "warning")
    for audience in ("schools", "enterprises", "villages"):
        assert reviewed(library, hazard, level, audience, "notice", "warning"), audience
    assert reviewed(library, hazard, level, "villages", "im", "warning")


@pytest.mark.parametrize("hazard", list(CMA_SIGNALS) + OTHER_ALERT_HAZARDS)
def test_every_alert_hazard_has_an_all_clear_sms(library: Library, hazard: str) -> None:
    assert reviewed(library, hazard, None, "residents", "sms", "all_clear")


@pytest.mark.parametrize("hazard", OTHER_ALERT_HAZARDS)
def test_other_alert_hazards_have_the_full_set(library: Library, hazard: str) -> None:
    for level in (None, "yellow", "red"):
        assert reviewed(library, hazard, level, "residents", "sms", "warning")
        for audience in ("schools", "enterprises", "villages"):
            assert reviewed(library, hazard, level, audience, "notice", "warning"), audience


def test_fraud_and_rumour_texts_for_the_elderly(library: Library) -> None:
    assert len(reviewed(library, "fraud_rumour", None, "elderly", "sms", "preparedness")) >= 2
    for audience in ("schools", "enterprises", "villages"):
        assert reviewed(library, "fraud_rumour", None, audience, "notice", "preparedness"), audience


@pytest.mark.parametrize("theme", CAMPAIGN_THEMES)
def test_every_campaign_theme_has_a_seasonal_sms(library: Library, theme: str) -> None:
    assert reviewed(library, theme, None, "residents", "sms", "seasonal")


@pytest.mark.parametrize(("hazard", "level"), [p for p in CMA_PAIRS if p[0] in ("rainstorm", "heat", "cold_wave")])
def test_english_residents_sms(library: Library, hazard: str, level: str) -> None:
    assert reviewed(library, hazard, level, "residents", "sms", "warning", language="en")


def test_every_sms_fits_134_characters_and_passes_check_at_worst_case(library: Library) -> None:
    rules = SmsRules()
    hazards = default_hazards()
    longest = 0
    for template in (t for t in library.templates if t.channel == "sms"):
        for context in worst_contexts(template, hazards[template.hazard], WORST_AREA, WORST_ISSUER):
            body = render(template, context)
            assert check(body, rules) == [], template.id
            assert "{" not in body and "}" not in body, template.id
            longest = max(longest, measure(body).characters)
    assert 0 < longest <= 134


def test_alert_driven_sms_cite_the_official_issuer(library: Library) -> None:
    for template in library.templates:
        if template.channel == "sms" and template.stage in ("warning", "update", "all_clear"):
            assert "{{ issuer }}" in template.text, template.id
