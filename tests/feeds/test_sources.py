"""The directory source: CAP files by content, feed files by entry, broken files passed on to be kept."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from alerts.feeds.sources import demo_documents, directory_documents

DATA = Path(__file__).resolve().parent.parent / "data" / "cap"


def test_cap_files_feed_entries_and_broken_files(tmp_path: Path) -> None:
    for name in ("constructed-gaoping-rainstorm-orange.gbt35965.xml", "google-amber.atom", "google-invalid.cap",
                 "google-earthquake_index.atom"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an alert")
    docs = list(directory_documents(tmp_path, 1 << 20))
    keys = [d.key for d in docs]
    assert keys[0].startswith("constructed-gaoping-rainstorm-orange.gbt35965.xml:")
    amber = [d for d in docs if d.key.startswith("google-amber.atom#")]
    assert len(amber) == 1 and amber[0].data.lstrip().startswith(b"<?xml") and b"<alert" in amber[0].data
    assert any(k.startswith("google-invalid.cap:") for k in keys)  # kept by the pipeline with its reason
    assert not any(k.startswith("google-earthquake_index.atom") for k in keys)  # links only: nothing to parse
    assert not any(k.startswith("notes.txt") for k in keys)


def test_a_changed_file_is_a_new_document_and_an_unchanged_one_is_not(tmp_path: Path) -> None:
    target = tmp_path / "a.xml"
    shutil.copy(DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml", target)
    [first] = directory_documents(tmp_path, 1 << 20)
    [same] = directory_documents(tmp_path, 1 << 20)
    target.write_bytes(target.read_bytes().replace(b"Orange", b"Red"))
    [changed] = directory_documents(tmp_path, 1 << 20)
    assert first.key == same.key != changed.key


def test_demo_keys_stay_stable_when_times_are_shifted(tmp_path: Path) -> None:
    shutil.copy(DATA / "constructed-gaoping-rainstorm-orange.gbt35965.xml", tmp_path / "a.xml")
    shutil.copy(DATA / "google-amber.atom", tmp_path / "b.atom")
    one = list(demo_documents(tmp_path, datetime(2027, 1, 1, tzinfo=UTC), 1 << 20))
    two = list(demo_documents(tmp_path, datetime(2027, 6, 1, tzinfo=UTC), 1 << 20))
    assert [d.key for d in one] == [d.key for d in two]
    assert one[0].key == "demo:a.xml" and one[1].key.startswith("demo:b.atom#")
    assert b"2027-01-01" in one[0].data
