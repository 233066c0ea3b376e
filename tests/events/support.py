"""Test support for events: a World with the responsible-persons roster imported, and the SMS sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from alerts.events.people import parse_people_csv, upsert_people
from alerts.recipients import ImportReport
from tests.workflow.support import World, build_world

DATA = Path(__file__).resolve().parents[1] / "data" / "events"


async def events_world(config_dir: Path, database_url: str, **kwargs: Any) -> World:
    world = await build_world(config_dir, database_url, **kwargs)
    rows, problems = parse_people_csv((DATA / "people.csv").read_text(encoding="utf-8"), world.service.areas)
    assert not problems, problems
    async with world.service.db.write() as conn:
        await upsert_people(conn, rows, at=world.clock.now(), report=ImportReport())
    return world


def sent(world: World) -> list[dict[str, Any]]:
    """What the log channel sent (SMS, and IM robots when configured), oldest first."""
    path = world.service.settings.path(world.service.settings.channels.log_file)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
