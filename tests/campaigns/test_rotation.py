"""Campaign texts take turns (issue 18): over a year no resident gets the same text more than twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

from alerts.areas import Areas
from alerts.campaigns import calendar
from alerts.clock import SHANGHAI
from alerts.content.library import Library
from alerts.settings import load_settings


def shipped_calendar(config_dir: Path) -> calendar.Calendar:
    settings = load_settings(config_dir, env={})
    return calendar.load(settings, Areas(settings.areas), Library.load(settings.templates_dir), fresh=True)


def sends_in(cal: calendar.Calendar, year: int) -> Counter[tuple[str, str]]:
    """(audience, template id) -> how many times a year it goes out."""
    sent: Counter[tuple[str, str]] = Counter()
    start, end = datetime(year, 1, 1, tzinfo=SHANGHAI), datetime(year + 1, 1, 1, tzinfo=SHANGHAI)
    for occurrence in cal.occurrences(start, end):
        templates, missing = cal.templates_for(occurrence.campaign, occurrence.at)
        assert missing == [], occurrence.campaign.id
        sent.update((t.audience, t.id) for t in templates)
    return sent


def test_no_text_goes_out_more_than_twice_a_year(config_dir: Path) -> None:
    for year in (2027, 2028):
        sent = sends_in(shipped_calendar(config_dir), year)
        assert {key: n for key, n in sent.items() if n > 2} == {}, year


def test_the_seasons_rotate_through_several_texts_and_start_with_the_first(config_dir: Path) -> None:
    cal = shipped_calendar(config_dir)
    sent = sends_in(cal, 2027)
    for theme, at_least in (("co_poisoning", 6), ("flood_season", 5), ("heat", 4), ("cold_wave", 2)):
        assert len({tid for (audience, tid) in sent if audience == "residents" and tid.startswith(theme + ".")}) \
            >= at_least, theme
    flood = cal.get("flood_season")
    assert flood is not None
    first, _ = cal.templates_for(flood, datetime(2027, 6, 1, 10, tzinfo=SHANGHAI))
    assert [t.id for t in first] == ["flood_season.seasonal.residents.sms"]


def test_co_starts_in_october_floods_run_into_october_and_the_elderly_have_their_own_dates(config_dir: Path) -> None:
    cal = shipped_calendar(config_dir)
    start, end = datetime(2027, 1, 1, tzinfo=SHANGHAI), datetime(2028, 1, 1, tzinfo=SHANGHAI)
    occurrences = cal.occurrences(start, end)
    co = [o.at for o in occurrences if o.campaign.id == "heating_season_co"]
    assert any(at.month == 10 for at in co)
    assert any(at.month == 10 for at in occurrences_of(occurrences, "flood_season"))
    elderly = sends_in(cal, 2027)
    assert {tid for (audience, tid) in elderly if audience == "elderly"} >= {
        "co_poisoning.seasonal.elderly.sms", "cold_wave.seasonal.elderly.sms", "heat.seasonal.elderly.sms",
        "fraud_rumour.seasonal.elderly.sms"}


def occurrences_of(occurrences: list[calendar.Occurrence], campaign: str) -> list[datetime]:
    return [o.at for o in occurrences if o.campaign.id == campaign]
