"""Ingest benchmark: parse_alert + normalise and feed parsing throughput, peak RSS; last line is JSON."""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
from pathlib import Path

import feedparser  # type: ignore[import-untyped]  # ships no type information

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: python bench/ingest.py

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
    parser.add_argument("--feed-rounds", type=int, default=200, help="passes over the feed samples (default 200)")
    args = parser.parse_args(argv)

    table = HazardTable.load()
    alerts, feeds = load_samples()
    corpus = replicate(alerts, max(args.docs, 1))
    print(f"corpus: {len(corpus)} CAP documents from {len(alerts)} samples, {len(feeds)} feeds")

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
    push_ms = measure_push_to_stored()

    print(json.dumps({
        "docs_per_s": round(docs_per_s, 1),
        "feedparser_entries_per_s": round(feedparser_rate, 1),
        "index_entries_per_s": round(index_rate, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "push_to_stored_ms_median": push_ms,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
