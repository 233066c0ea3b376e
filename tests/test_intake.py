"""Feed entries are claimed in the transaction that stores them: a failure in between loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from alerts.app import Service
from alerts.settings import load_settings
from alerts.store.migrate import upgrade
from alerts.store.tables import alerts, feed_entries, raw_inputs

SAMPLE = Path(__file__).parent / "data" / "cap" / "constructed-gaoping-rainstorm-orange.gbt35965.xml"


async def test_an_entry_whose_processing_fails_is_taken_again_on_the_next_poll(
        config_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    service = Service(load_settings(config_dir, env={"ALERTS_DATABASE_URL": database_url}))
    await upgrade(service.db)
    try:
        real = service.drafter.draft_for_alert

        async def crash(*args: object, **kwargs: object) -> object:
            raise RuntimeError("the process died here")

        monkeypatch.setattr(service.drafter, "draft_for_alert", crash)
        doc = [("entry-1", "test", SAMPLE.read_bytes())]
        with pytest.raises(RuntimeError):
            await service.receive_documents("dropbox", doc)
        async with service.db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(feed_entries))).scalar_one() == 0
            assert (await conn.execute(select(func.count()).select_from(alerts))).scalar_one() == 0

        monkeypatch.setattr(service.drafter, "draft_for_alert", real)
        [intake] = await service.receive_documents("dropbox", doc)
        assert intake.alert_id is not None and intake.drafts.created
        assert await service.receive_documents("dropbox", doc) == []  # processed once
        async with service.db.read() as conn:
            assert (await conn.execute(select(func.count()).select_from(feed_entries))).scalar_one() == 1
            assert (await conn.execute(select(func.count()).select_from(raw_inputs))).scalar_one() == 1
    finally:
        await service.close()
