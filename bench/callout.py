"""叫应 benchmark: a red warning over the whole city with N villages on the roster; how long the first
round of notices, an SMS reply's acknowledgement and the repeat round take (log channel, real database).

Last line is JSON: {"units", "first_round_s", "repeat_round_s", "reply_ms_median", ...}.
Run: .venv/bin/python bench/callout.py [--villages N] [--postgres BASE_URL]
With --postgres a scratch database is created on that server and dropped afterwards.
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
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from alerts.app import Service  # noqa: E402
from alerts.clock import ManualClock  # noqa: E402
from alerts.events.people import PersonRow, upsert_people  # noqa: E402
from alerts.recipients import ImportReport  # noqa: E402
from alerts.replies import handle_reply  # noqa: E402
from alerts.settings import load_settings  # noqa: E402
from alerts.store.migrate import upgrade  # noqa: E402
from tests.workflow.support import START, sample_alert  # noqa: E402


def config(tmp: Path) -> Path:
    target = tmp / "config"
    shutil.copytree(ROOT / "config", target)
    for name, old, new in [("service.yaml", "templates_dir: ../templates", f"templates_dir: {ROOT / 'templates'}"),
                           ("service.yaml", "var_dir: ../var", f"var_dir: {tmp / 'var'}"),
                           ("channels.yaml", "log_file: ../var/outbox.log", f"log_file: {tmp / 'var' / 'outbox.log'}"),
                           ("feeds.yaml", "path: ../alerts/demo/samples", f"path: {ROOT / 'alerts/demo/samples'}")]:
        path = target / name
        path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return target


async def main(villages: int, postgres: str | None) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp())
    if postgres:
        from tests.conftest import _pg_create, _pg_drop

        url = await _pg_create(postgres)
        try:
            return await run(villages, url, tmp)
        finally:
            await _pg_drop(postgres, url)
    return await run(villages, f"sqlite:///{tmp / 'bench.db'}", tmp)


async def run(villages: int, url: str, tmp: Path) -> dict[str, object]:
    service = Service(load_settings(config(tmp), env={"ALERTS_DATABASE_URL": url}), clock=ManualClock(START))
    await upgrade(service.db)
    townships = ["140581101", "140581102", "140581103"]  # the sample warning's area
    rows = []
    for i in range(villages):
        area = townships[i % 3]
        rows.append(PersonRow(key=f"v{i}", name=f"书记{i}", role="村党支部书记", level="village", area=area,
                              unit=f"村{i}", kind="", rank=1, phone=f"+86139{i:08d}"))
    async with service.db.write() as conn:
        await upsert_people(conn, rows, at=service.clock.now(), report=ImportReport())
    await service.receive(sample_alert(level="red"), source="bench")
    started = time.perf_counter()
    first = await service.events.run_once()
    first_s = time.perf_counter() - started
    replies = []
    for i in range(0, villages, 2):  # half of them answer
        t = time.perf_counter()
        async with service.db.write() as conn:
            await handle_reply(conn, phone=f"+86139{i:08d}", body="收到", provider="bench", at=service.clock.now(),
                               service_name="bench")
        replies.append((time.perf_counter() - t) * 1000)
    service.clock.advance(minutes=10)  # type: ignore[attr-defined]
    started = time.perf_counter()
    repeat = await service.events.run_once()
    repeat_s = time.perf_counter() - started
    await service.close()
    return {"database": url.split(":")[0], "units": villages, "first_round_notices": first.reached,
            "first_round_s": round(first_s, 3), "repeat_round_notices": repeat.reached,
            "repeat_round_s": round(repeat_s, 3), "reply_ms_median": round(statistics.median(replies), 2),
            "reply_ms_max": round(max(replies), 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--villages", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL server URL (a scratch database is made on it)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.villages, args.postgres)), ensure_ascii=False))
