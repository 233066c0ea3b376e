"""Push benchmark: POST CAP documents to the real app on 127.0.0.1 and time each until its alert is stored.

The API answers 202 only after the write transaction that stores the raw input, the alert, its
lifecycle events and its drafts has committed, so the request's round trip is the time from push
to stored (drafting included). Every timed alert is checked in the database afterwards.
Then 20 pushers (--concurrency) push at a combined --rate per second, each on its own schedule
(open loop: a pusher that falls behind sends at once, it does not wait for its slot again), and
the round trips give concurrent_p50_ms / concurrent_p99_ms and the achieved pushes_per_s.
Last line: JSON with push_to_stored_ms_median and those figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: python bench/push.py

SAMPLE = (ROOT / "tests" / "data" / "cap" / "constructed-gaoping-rainstorm-orange.gbt35965.xml").read_bytes()
SAMPLE_ID = b"14058141600000_20260712053000"


def document(n: int) -> bytes:
    """A distinct alert per n: its own identifier, the Gaoping sample's content."""
    return SAMPLE.replace(SAMPLE_ID, f"14058141600000_bench{n:08d}".encode())


def private_config(tmp: Path, database_url: str | None) -> Path:
    target = tmp / "config"
    shutil.copytree(ROOT / "config", target)
    service = target / "service.yaml"
    text = service.read_text(encoding="utf-8")
    text = text.replace("templates_dir: ../templates", f"templates_dir: {ROOT / 'templates'}")
    text = text.replace("var_dir: ../var", f"var_dir: {tmp / 'var'}")
    url = database_url or f"sqlite:///{tmp / 'bench.db'}"
    text = text.replace("database_url: sqlite:///../var/alerts.db", f"database_url: {url}")
    service.write_text(text, encoding="utf-8")
    feeds = target / "feeds.yaml"
    feeds.write_text("feeds: []\n", encoding="utf-8")  # nothing but the pushes writes
    channels = target / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8").replace(
        "log_file: ../var/outbox.log", f"log_file: {tmp / 'var' / 'outbox.log'}"), encoding="utf-8")
    (tmp / "var").mkdir(exist_ok=True)
    return target


def percentile(sorted_ms: list[float], q: float) -> float:
    return round(sorted_ms[min(len(sorted_ms) - 1, max(0, int(len(sorted_ms) * q) - 1))], 2)


async def concurrent_run(http: object, url: str, headers: dict[str, str], first: int, concurrency: int,
                         rate: float, seconds: float) -> tuple[list[float], float]:
    """(round trips in ms, wall seconds) of `concurrency` pushers sending `rate` documents a second together."""
    import aiohttp

    assert isinstance(http, aiohttp.ClientSession)
    per_pusher = max(1, round(rate * seconds / concurrency))
    interval = concurrency / rate
    timings: list[float] = []
    start = time.perf_counter()

    async def pusher(k: int) -> None:
        for i in range(per_pusher):
            due = start + (i + k / concurrency) * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            n = first + k * per_pusher + i
            sent = time.perf_counter()
            async with http.post(url, data=document(n), headers=headers) as r:
                answer = await r.json()
            if r.status != 202 or answer.get("duplicate"):
                raise SystemExit(f"push {n} answered {r.status}: {answer}")
            timings.append((time.perf_counter() - sent) * 1000)

    await asyncio.gather(*(pusher(k) for k in range(concurrency)))
    return timings, time.perf_counter() - start


async def measure(pushes: int = 200, warmup: int = 20, database_url: str | None = None, concurrency: int = 20,
                  rate: float = 200.0, seconds: float = 10.0) -> dict[str, float | int | str]:
    import aiohttp
    from aiohttp import web
    from sqlalchemy import func, select

    from alerts.app import Service
    from alerts.settings import load_settings
    from alerts.store import users as user_store
    from alerts.store.migrate import upgrade
    from alerts.store.tables import alerts
    from alerts.web.app import make_app

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        settings = load_settings(private_config(tmp, database_url), env={})
        service = Service(settings)
        await upgrade(service.db)
        async with service.db.write() as conn:
            user = await user_store.add(conn, "bench.source", ["source"], "bench-password-1", at=service.clock.now())
            token = await user_store.create_token(conn, user, "bench", at=service.clock.now())
        runner = web.AppRunner(make_app(service), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/api/v1/alerts"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"}
        timings: list[float] = []
        try:
            async with aiohttp.ClientSession() as http:
                for n in range(warmup + pushes):
                    body = document(n)
                    start = time.perf_counter()
                    async with http.post(url, data=body, headers=headers) as r:
                        answer = await r.json()
                    elapsed = (time.perf_counter() - start) * 1000
                    if r.status != 202 or answer.get("duplicate"):
                        raise SystemExit(f"push {n} answered {r.status}: {answer}")
                    if n >= warmup:
                        timings.append(elapsed)
                together: list[float] = []
                wall = 0.0
                if concurrency > 0:
                    connector = aiohttp.TCPConnector(limit=concurrency)
                    async with aiohttp.ClientSession(connector=connector) as pushers:
                        together, wall = await concurrent_run(pushers, url, headers, warmup + pushes, concurrency,
                                                              rate, seconds)
            async with service.db.read() as conn:
                stored = (await conn.execute(select(func.count()).select_from(alerts))).scalar_one()
            if stored != warmup + pushes + len(together):
                raise SystemExit(f"{stored} alerts stored for {warmup + pushes + len(together)} pushes")
        finally:
            await runner.cleanup()
            await service.close()
    timings.sort()
    together.sort()
    concurrent: dict[str, float | int] = {}
    if together:
        concurrent = {"concurrency": concurrency, "target_pushes_per_s": rate,
                      "pushes_per_s": round(len(together) / wall, 1),
                      "concurrent_p50_ms": percentile(together, 0.50),
                      "concurrent_p99_ms": percentile(together, 0.99), "concurrent_pushes": len(together)}
    return {
        "push_to_stored_ms_median": round(statistics.median(timings), 2),
        "push_to_stored_ms_p95": percentile(timings, 0.95),
        "pushes": pushes,
        **concurrent,
        "database": "postgresql" if database_url and database_url.startswith("postgresql") else "sqlite",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=200, help="timed pushes (default 200, after 20 warm-up)")
    parser.add_argument("--database-url", default=None, help="postgresql://... (default: a fresh SQLite file)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent pushers (default 20; 0: none)")
    parser.add_argument("--rate", type=float, default=200.0, help="pushes per second, all pushers together")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the concurrent run (default 10)")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(max(args.pushes, 1), database_url=args.database_url, concurrency=args.concurrency,
                                 rate=args.rate, seconds=args.seconds))
    print(f"push to stored: median {result['push_to_stored_ms_median']} ms, "
          f"p95 {result['push_to_stored_ms_p95']} ms over {result['pushes']} pushes ({result['database']})")
    if "pushes_per_s" in result:
        print(f"{result['concurrency']} concurrent pushers at {result['target_pushes_per_s']:g}/s: achieved "
              f"{result['pushes_per_s']}/s, p50 {result['concurrent_p50_ms']} ms, p99 {result['concurrent_p99_ms']} ms "
              f"over {result['concurrent_pushes']} pushes")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
