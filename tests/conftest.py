"""Shared fixtures: a copy of the example config, and databases on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
PG_URL = os.environ.get("ALERTS_TEST_POSTGRES_URL")


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A private copy of the example deployment, paths pointing back at the real templates."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG, target)
    service = target / "service.yaml"
    text = service.read_text(encoding="utf-8")
    text = text.replace("templates_dir: ../templates", f"templates_dir: {ROOT / 'templates'}")
    text = text.replace("var_dir: ../var", f"var_dir: {tmp_path / 'var'}")
    text = text.replace("database_url: sqlite:///../var/alerts.db", f"database_url: sqlite:///{tmp_path / 'var' / 'alerts.db'}")
    service.write_text(text, encoding="utf-8")
    feeds = target / "feeds.yaml"
    feeds.write_text(feeds.read_text(encoding="utf-8").replace("path: ../alerts/demo/samples",
                                                               f"path: {ROOT / 'alerts' / 'demo' / 'samples'}"),
                     encoding="utf-8")
    channels = target / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8").replace("log_file: ../var/outbox.log",
                                                                     f"log_file: {tmp_path / 'var' / 'outbox.log'}"),
                        encoding="utf-8")
    return target


async def _pg_create(base_url: str) -> str:
    import asyncpg

    name = f"alerts_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base_url.rsplit("/", 1)[0] + "/" + name


async def _pg_drop(base_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite always; PostgreSQL when ALERTS_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip("PostgreSQL tests need ALERTS_TEST_POSTGRES_URL (CI sets it to the local server)")
    url = asyncio.run(_pg_create(PG_URL))
    try:
        yield url
    finally:
        asyncio.run(_pg_drop(PG_URL, url))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[object]:
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade

    db = Database(database_url)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.close()
