"""Fixtures for the content tests: the shipped library, and a private copy to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from alerts.content.library import Library

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
INVALID = Path(__file__).resolve().parent / "invalid"


@pytest.fixture(scope="session")
def library() -> Library:
    return Library.load(TEMPLATES)


@pytest.fixture
def library_copy(tmp_path: Path) -> Path:
    target = tmp_path / "templates"
    shutil.copytree(TEMPLATES, target)
    return target
