"""The campaign calendar: campaigns.yaml validated against areas and templates, and its occurrences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerts.areas import Areas
from alerts.campaigns import rules
from alerts.clock import SHANGHAI
from alerts.content.library import Library, Template
from alerts.settings import ConfigError, Settings, describe_validation_error, read_yaml
from alerts.settings.campaigns import CampaignConfig, CampaignsFile

FILENAME = "campaigns.yaml"


@dataclass(frozen=True)
class Occurrence:
    campaign: CampaignConfig
    at: datetime  # local time (Asia/Shanghai), tz-aware

    def as_json(self) -> dict[str, Any]:
        c = self.campaign
        return {"campaign": c.id, "name": c.name, "at": self.at.isoformat(), "rule": rules.describe(c.rule),
                "theme": c.theme, "owner": c.owner, "audiences": list(c.audiences),
                "areas": c.areas if c.areas == "all" else list(c.areas)}


class Calendar:
    """Validated campaigns with their areas resolved to township codes and templates checked."""

    def __init__(self, config: CampaignsFile, areas: Areas, library: Library, *, source: str = FILENAME,
                 warnings: list[str] | None = None):
        self.config = config
        self.areas = areas
        self.library = library
        self.source = source
        self.warnings = warnings or []

    @property
    def campaigns(self) -> list[CampaignConfig]:
        return [c for c in self.config.campaigns if c.enabled]

    def get(self, campaign_id: str) -> CampaignConfig | None:
        return self.config.get(campaign_id)

    def area_codes(self, campaign: CampaignConfig, override: list[str] | None = None) -> list[str]:
        wanted = override if override is not None else campaign.areas
        if wanted == "all":
            return sorted(self.areas.townships)
        return sorted({code for a in wanted if (code := self.areas.code_for(a))})

    def templates_for(self, campaign: CampaignConfig, at: datetime | None = None) -> tuple[list[Template], list[str]]:
        """The templates an occurrence renders (one per audience and channel), and what is missing. Where the
        library holds several texts for one audience and channel, the occurrences of a year take turns."""
        return select_templates(self.library, campaign.theme, campaign.stage, campaign.audiences,
                                campaign.channels, campaign.templates,
                                ordinal=self.ordinal(campaign, at) if at is not None else 0)

    def ordinal(self, campaign: CampaignConfig, at: datetime) -> int:
        """How many of the campaign's occurrences come before `at` in its calendar year (0 for the first)."""
        local = at.astimezone(SHANGHAI)
        year_start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return len(rules.occurrences(campaign.rule, year_start, local))

    def occurrences(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Every enabled campaign's occurrences with start <= at < end, in time order."""
        found = [Occurrence(c, at) for c in self.campaigns for at in rules.occurrences(c.rule, start, end)]
        return sorted(found, key=lambda o: (o.at, o.campaign.id))


def select_templates(library: Library, theme: str, stage: str, audiences: list[str], channels: list[str],
                     explicit: list[str], *, ordinal: int = 0) -> tuple[list[Template], list[str]]:
    if explicit:
        chosen = []
        missing = []
        for tid in explicit:
            try:
                chosen.append(library.get(tid))
            except KeyError:
                missing.append(f"template {tid!r} is not in the library")
        return chosen, missing
    chosen, missing = [], []
    for audience in audiences:
        for channel in channels:
            found = library.find(theme, None, audience, channel, stage)
            # Reviewed texts take turns (the same SMS week after week teaches nothing, issue 18): the theme's
            # first text (seasonal) opens the year, then seasonal-2, seasonal-3, ... An unreviewed text is
            # used only when none is reviewed, as it would need an expert before approval.
            pool = [t for t in found if t.status == "reviewed"] or found
            pool.sort(key=lambda t: (len(t.id.split(".")[1]), t.id))
            if pool:
                chosen.append(pool[ordinal % len(pool)])
            else:
                missing.append(f"no {stage} template for theme {theme}, audience {audience}, channel {channel}")
    return chosen, missing


def parse(doc: Any, source: str, areas: Areas, library: Library) -> Calendar:
    """Validate a campaigns.yaml document; raise ConfigError with one line per problem."""
    try:
        config = CampaignsFile.model_validate(doc if doc is not None else {})
    except ValidationError as err:
        raise ConfigError(describe_validation_error(source, err)) from None
    problems: list[str] = []
    warnings: list[str] = []
    for i, c in enumerate(config.campaigns):
        where = f"{source}: campaigns[{i}] ({c.id})"
        if c.areas != "all":
            for j, a in enumerate(c.areas):
                if areas.code_for(a) is None:
                    problems.append(f"{where}.areas[{j}]: {a!r} — not a township code or name of areas.yaml")
        for j, aud in enumerate(c.audiences):
            from alerts.content.library import AUDIENCES

            if aud not in AUDIENCES:
                problems.append(f"{where}.audiences[{j}]: {aud!r} — expected one of {', '.join(AUDIENCES)}")
        chosen, missing = select_templates(library, c.theme, c.stage, c.audiences, c.channels, c.templates)
        for t in chosen:
            if t.stage not in ("seasonal", "preparedness", "recovery"):
                problems.append(f"{where}.templates: {t.id!r} has stage {t.stage} — campaigns use seasonal, "
                                "preparedness or recovery templates")
            elif t.status != "reviewed":
                warnings.append(f"{where}: template {t.id} is {t.status}: an expert must review each draft")
        for m in missing:
            line = f"{where}: {m} — add the template to the library or list existing ones under templates:"
            # A listed template that does not exist is a typo; a gap in the library is content to write.
            (problems if c.templates else warnings).append(line)
    if problems:
        raise ConfigError(problems)
    return Calendar(config, areas, library, source=source, warnings=warnings)


def load(settings: Settings, areas: Areas, library: Library, *, fresh: bool = False) -> Calendar:
    """The calendar of settings (or, fresh=True, re-read from disk for a reload)."""
    path: Path = settings.config_dir / FILENAME
    if fresh or FILENAME not in settings.extra:
        if not path.exists():
            return Calendar(CampaignsFile(), areas, library, source=str(path),
                            warnings=[f"{path}: missing file — no campaigns are scheduled"])
        doc, problems = read_yaml(path, str(path))
        if problems:
            raise ConfigError(problems)
    else:
        doc = settings.extra[FILENAME]
    return parse(doc, str(path), areas, library)


def local_day_start(day: Any) -> datetime:
    """Midnight of a local date in Asia/Shanghai."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def problems(settings: Settings) -> list[str]:
    """campaigns.yaml problems, one line each, for `alerts check` (warnings are not problems)."""
    from alerts.content.library import LibraryError

    try:
        load(settings, Areas(settings.areas), Library.load(settings.templates_dir, strict=False))
    except ConfigError as exc:
        return exc.lines
    except LibraryError as exc:
        return exc.problems
    return []
