"""Ingest benchmark: parse_alert + normalise against a bare lxml parse of the same documents; last line is JSON.

The corpus is the real CAP samples of tests/data/cap plus NWS-style documents with large polygons:
the real NWS message nws-5c2cf27b.xml with its empty <polygon> filled in (constructed here, see
nws_with_polygon), because NWS zone polygons run to thousands of points and were the slow part.
`ratio_to_lxml` is `alerts ingest`'s per-document work (read_document) over a bare
etree.fromstring of the same bytes, both per CPU second in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import resource
import sys
import time
from pathlib import Path

import feedparser  # type: ignore[import-untyped]  # ships no type information

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: python bench/ingest.py

from lxml import etree  # noqa: E402

from alerts.cli.ingest import read_document  # noqa: E402
from alerts.feeds.cap import Rejected, parse_alert  # noqa: E402
from alerts.feeds.index import parse_index  # noqa: E402
from alerts.hazards import HazardTable  # noqa: E402

SAMPLES = ROOT / "tests" / "data" / "cap"


def load_samples() -> tuple[list[bytes], list[bytes]]:
    """(CAP documents that parse, index feeds that parse), from the test samples."""
    alerts: list[bytes] = []
    feeds: list[bytes] = []
    for path in sorted(SAMPLES.iterdir()):
        data = path.read_bytes()
        try:
            if path.suffix in (".atom", ".rss"):
                parse_index(data)
                feeds.append(data)
            elif path.suffix in (".xml", ".cap"):
                parse_alert(data)
                alerts.append(data)
        except Rejected:
            continue  # the deliberately bad samples are not part of the throughput corpus
    return alerts, feeds


# Points of the constructed NWS polygons: a county-sized outline, a zone and a large multi-zone area.
NWS_POLYGON_POINTS = (500, 2_000, 6_000)


def nws_with_polygon(points: int) -> bytes:
    """The real NWS sample with a closed polygon of `points` points around its area (Lake Superior's
    North Shore), written as NWS writes them: "lat,lon" pairs, four decimals, space separated."""
    data = (SAMPLES / "nws-5c2cf27b.xml").read_bytes()
    ring = []
    for i in range(points - 1):
        t = 2 * math.pi * i / (points - 1)
        r = 0.5 + 0.08 * math.sin(7 * t) + 0.03 * math.sin(31 * t)  # a wavy outline, not a circle
        ring.append(f"{47.6 + r * math.sin(t):.4f},{-90.6 + 1.4 * r * math.cos(t):.4f}")
    ring.append(ring[0])
    polygon = "<polygon>" + " ".join(ring) + "</polygon>"
    return data.replace(b"<polygon></polygon>", polygon.encode())


def replicate(items: list[bytes], count: int) -> list[bytes]:
    return [items[i % len(items)] for i in range(count)]


class Timer:
    """CPU time of this process (what one core delivers, even on a busy machine) and wall time."""

    def __enter__(self) -> Timer:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self.cpu
        self.wall = time.perf_counter() - self.wall


def bench_alerts(corpus: list[bytes], table: HazardTable) -> Timer:
    for data in corpus[:500]:  # warm-up: imports, regex and XPath caches, pydantic schemas
        table.normalise(parse_alert(data))
    with Timer() as timer:
        for data in corpus:
            table.normalise(parse_alert(data))
    return timer


def bench_ingest(corpus: list[bytes], table: HazardTable) -> Timer:
    """What `alerts ingest` does per document (read_document), without the printing."""
    for data in corpus[:200]:
        read_document("bench", data, table)
    with Timer() as timer:
        for data in corpus:
            read_document("bench", data, table)
    return timer


def bench_lxml(corpus: list[bytes]) -> Timer:
    """The floor: a bare lxml parse of the same bytes, nothing checked, nothing read."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    for data in corpus[:200]:
        etree.fromstring(data, parser)
    with Timer() as timer:
        for data in corpus:
            etree.fromstring(data, parser)
    return timer


def bench_feedparser(feeds: list[bytes], rounds: int) -> tuple[int, Timer]:
    entries = 0
    with Timer() as timer:
        for _ in range(rounds):
            for data in feeds:
                entries += len(feedparser.parse(io.BytesIO(data)).entries)
    return entries, timer


def bench_index(feeds: list[bytes], rounds: int) -> tuple[int, Timer]:
    entries = 0
    with Timer() as timer:
        for _ in range(rounds):
            for data in feeds:
                entries += len(parse_index(data).entries)
    return entries, timer


def measure_push_to_stored() -> float | None:
    """Median milliseconds from a pushed document to its alert being stored (bench/push.py).

    It runs in a child process so that the app, the database and aiohttp do not count in this
    benchmark's peak memory; None (with the reason printed) if it could not run.
    """
    import subprocess

    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "push.py")], capture_output=True, text=True,
                          timeout=600, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"push_to_stored_ms_median: not measured (bench/push.py exited {proc.returncode}: "
              f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]})")
        return None
    for line in lines[:-1]:
        print(line)
    return float(json.loads(lines[-1])["push_to_stored_ms_median"])


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000, help="CAP documents to parse (default 10000)")
    parser.add_argument("--no-push", action="store_true", help="skip the push-to-stored measurement")
    parser.add_argument("--feed-rounds", type=int, default=200, help="passes over the feed samples (default 200)")
    args = parser.parse_args(argv)

    table = HazardTable.load()
    alerts, feeds = load_samples()
    large = [nws_with_polygon(n) for n in NWS_POLYGON_POINTS]
    corpus = replicate(alerts + large, max(args.docs, 1))
    print(f"corpus: {len(corpus)} CAP documents from {len(alerts)} real samples and {len(large)} NWS-style "
          f"documents with {', '.join(map(str, NWS_POLYGON_POINTS))}-point polygons; {len(feeds)} feeds")

    ratios = {}
    for name, docs in (("real samples only", replicate(alerts, max(args.docs, 1))), ("whole corpus", corpus)):
        ours, floor = bench_ingest(docs, table), bench_lxml(docs)
        ratios[name] = (len(docs) / ours.cpu, len(docs) / floor.cpu)
        print(f"{name}: alerts ingest {ratios[name][0]:,.0f} docs/s, bare lxml {ratios[name][1]:,.0f} docs/s "
              f"per CPU second, ratio {ratios[name][0] / ratios[name][1]:.3f}")
    ingest_rate, lxml_rate = ratios["whole corpus"]

    # Rates are per CPU second: the figure for one core, unaffected by other load on the host.
    timer = bench_alerts(corpus, table)
    docs_per_s = len(corpus) / timer.cpu
    print(f"parse_alert + normalise: {docs_per_s:,.0f} docs/s per CPU second "
          f"({len(corpus) / timer.wall:,.0f} by wall clock)")
    entries, timer = bench_feedparser(feeds, args.feed_rounds)
    feedparser_rate = entries / timer.cpu
    print(f"feedparser alone: {feedparser_rate:,.0f} entries/s ({entries / timer.wall:,.0f} by wall clock)")
    entries, timer = bench_index(feeds, args.feed_rounds)
    index_rate = entries / timer.cpu
    print(f"parse_index (lxml + feedparser): {index_rate:,.0f} entries/s ({entries / timer.wall:,.0f} by wall clock)")
    push_ms = None if args.no_push else measure_push_to_stored()

    print(json.dumps({
        "docs_per_s": round(docs_per_s, 1),
        "ingest_docs_per_s": round(ingest_rate, 1),
        "lxml_docs_per_s": round(lxml_rate, 1),
        "ratio_to_lxml": round(ingest_rate / lxml_rate, 3),
        "ratio_to_lxml_real_samples": round(ratios["real samples only"][0] / ratios["real samples only"][1], 3),
        "feedparser_entries_per_s": round(feedparser_rate, 1),
        "index_entries_per_s": round(index_rate, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "push_to_stored_ms_median": push_ms,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
