"""Fan-out benchmark: 450,000 residents in the 15 townships, one red warning to all.

Measures the approval transaction (approve → fan-out → commit of every delivery row) and the
process's peak RSS. Last line is JSON: {"recipients", "seconds", "peak_rss_mb", ...}; when
ALERTS_TEST_POSTGRES_URL is set (and no --database-url is given), the same fan-out runs again in a
child process on a fresh PostgreSQL database created for the run and dropped after it, adding
"postgres_seconds" and "postgres_peak_rss_mb".
Run: .venv/bin/python bench/fanout.py [--residents N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from sqlalchemy import func, select  # noqa: E402

from alerts.outbox import fanout  # noqa: E402
from alerts.store import drafts as draft_store  # noqa: E402
from alerts.store.engine import Database  # noqa: E402
from alerts.store.migrate import upgrade  # noqa: E402
from alerts.store.tables import deliveries, residents  # noqa: E402
from alerts.workflow import audit  # noqa: E402

TOWNSHIPS = ["140581001", "140581002", "140581003", "140581101", "140581102", "140581103", "140581104",
             "140581105", "140581106", "140581107", "140581108", "140581109", "140581201", "140581202",
             "140581203"]


async def populate(db: Database, count: int, at: datetime) -> None:
    """Residents in batches, so the setup itself stays small in memory."""
    step = 10_000
    for start in range(0, count, step):
        rows = [dict(phone=f"+86139{i:08d}", area=TOWNSHIPS[i % 15], village=None,
                     groups="elderly" if i % 5 == 0 else "", language="zh-CN", consent_at=at, consent_how="bench",
                     status="active", created_at=at, updated_at=at, opted_out_how="")
                for i in range(start, min(count, start + step))]
        async with db.write() as conn:
            await conn.execute(residents.insert(), rows)


async def main(count: int, url: str | None) -> dict[str, object]:
    tmp = tempfile.TemporaryDirectory()
    db = Database(url or f"sqlite:///{Path(tmp.name) / 'bench.db'}")
    await upgrade(db)
    at = datetime.now(UTC)
    await populate(db, count, at)
    items = [draft_store.NewMessage(route="bench", template_id="rainstorm.red.residents", template_hash="h",
                                    template_reviewed=True, audience="residents", channel="sms",
                                    language="zh-CN", areas=TOWNSHIPS, text="高平市气象台发布暴雨红色预警信号……")]
    async with db.write() as conn:
        draft_id = await draft_store.create(conn, alert_id=None, kind="warning", hazard="rainstorm", level="red",
                                            group_key="chain:bench", exercise=False, created_by="system", at=at,
                                            expires_at=None, items=items)
    # What Actions.approve does in its one transaction: decide, fan out, move to dispatching, audit.
    started = time.perf_counter()
    async with db.write() as conn:
        await draft_store.transition(conn, draft_id, "pending", "approved", at=at, by="bench")
        record = await draft_store.get(conn, draft_id)
        assert record is not None
        result = await fanout.fan_out(conn, record.row, record.messages, now=at, test_phones=[])
        await draft_store.transition(conn, draft_id, "approved", "dispatching", at=at)
        await audit.append(conn, at=at, actor="bench", action="draft.approved", target=f"draft:{draft_id}",
                           after={"deliveries": result.deliveries})
    seconds = time.perf_counter() - started
    async with db.read() as conn:
        rows = int((await conn.execute(select(func.count()).select_from(deliveries))).scalar() or 0)
    await db.close()
    tmp.cleanup()
    assert rows == result.deliveries == count, (rows, result.deliveries, count)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"recipients": count, "deliveries": rows, "seconds": round(seconds, 2), "peak_rss_mb": round(peak, 1),
            "database": db.dialect}


async def _admin(server_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def on_postgres(server_url: str, count: int) -> dict[str, object]:
    """The same fan-out in a child process (its own peak RSS) on a database made for this run."""
    name = f"bench_fanout_{uuid.uuid4().hex[:8]}"
    base = server_url.rsplit("/", 1)[0]
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        proc = subprocess.run([sys.executable, __file__, "--residents", str(count), "--database-url",
                               f"{base}/{name}"], capture_output=True, text=True, timeout=1800, check=False)
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}"'))
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"PostgreSQL run failed: {(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
    print(lines[0])
    return dict(json.loads(lines[-1]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=450_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    out = asyncio.run(main(args.residents, args.database_url))
    print(f"fan-out of one red warning to {out['recipients']} residents: {out['seconds']} s, "
          f"peak RSS {out['peak_rss_mb']} MB ({out['database']})")
    server = os.environ.get("ALERTS_TEST_POSTGRES_URL")
    if server and args.database_url is None:
        pg = on_postgres(server, args.residents)
        out.update(postgres_seconds=pg["seconds"], postgres_peak_rss_mb=pg["peak_rss_mb"])
    print(json.dumps(out))
