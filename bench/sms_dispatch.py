"""Dispatch benchmark for the domestic providers: one red warning to N residents, handed to a local Aliyun
or Tencent server (another process) through the official SDK in batches of 1,000 / 200 numbers.

The outbox worker on this branch hands channels one delivery at a time; the batching worker (claim,
group by the channel's batch_key, send_batch, record) is another engineer's work. This benchmark drives
the channel's send_batch the way that worker will: claim with a lease, group by batch_key, chunks of
max_batch, several in flight, outcomes recorded per delivery with finish_many.

Last line is JSON: {"provider", "residents", "seconds_to_last_request", "requests", ...}.
Run: .venv/bin/python bench/sms_dispatch.py --provider aliyun [--residents 450000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

import aiohttp  # noqa: E402

from alerts.channels.base import Ok, Outbound  # noqa: E402
from alerts.outbox import fanout  # noqa: E402
from alerts.store import deliveries as store  # noqa: E402
from alerts.store import drafts as draft_store  # noqa: E402
from alerts.store.deliveries import Finished  # noqa: E402
from alerts.store.engine import Database  # noqa: E402
from alerts.store.migrate import upgrade  # noqa: E402
from alerts.store.tables import residents  # noqa: E402
from bench.dispatch import free_port, wait_listening  # noqa: E402
from tests.channels.sms_support import aliyun_provider, channel, registry, tencent_provider  # noqa: E402

TEMPLATE = "rainstorm.red.residents.sms"
PARAMS = {"issuer": "高平市气象台", "event": "暴雨", "level_name": "红色", "areas": "高平市"}
CLAIM = 5000  # deliveries claimed per cycle (five Aliyun calls, 25 Tencent calls)
LANES = 3


class Timed:
    """Notes when each provider call ends (the numbers are then with the provider)."""

    def __init__(self, provider: Any):
        self.provider = provider
        self.last_answer = 0.0
        inner = provider.client.send_sms

        async def send_sms(*args: Any, **kwargs: Any) -> Any:
            result = await inner(*args, **kwargs)
            self.last_answer = time.perf_counter()
            return result

        provider.client.send_sms = send_sms


async def prepare(db: Database, count: int) -> int:
    at = datetime.now(UTC)
    rows = [dict(phone=f"+86139{i:08d}", area="140581101", village=None, groups="", language="zh-CN", consent_at=at,
                 consent_how="bench", status="active", created_at=at, updated_at=at, opted_out_how="")
            for i in range(count)]
    reg = registry()
    registered = reg.get("aliyun", TEMPLATE)
    assert registered is not None
    async with db.write() as conn:
        for k in range(0, count, 10_000):
            await conn.execute(residents.insert(), rows[k:k + 10_000])
        return await draft_store.create(
            conn, alert_id=None, kind="warning", hazard="rainstorm", level="red", group_key="chain:bench",
            exercise=False, created_by="system", at=at, expires_at=None,
            items=[draft_store.NewMessage(route="bench", template_id=TEMPLATE, template_hash="h", template_reviewed=True,
                                          audience="residents", channel="sms", language="zh-CN",
                                          areas=["140581101"], text=registered.fill(PARAMS), params=PARAMS)])


async def cycle(db: Database, sms: Any, owner: str, record: asyncio.Queue[list[Finished]]) -> int:
    """What the batching worker does per claim: send_batch per batch_key group; the outcomes go to the
    recorder, so the next claim need not wait for this one's record (the worker's lanes do the same)."""
    async with db.write() as conn:
        claimed = await store.claim(conn, owner=owner, now=datetime.now(UTC), lease_seconds=120, limit=CLAIM)
    if not claimed:
        return 0
    groups: dict[object, list[Outbound]] = defaultdict(list)
    for c in claimed:
        item = Outbound(c.id, c.message_id, c.draft_id, c.channel, c.address, c.text, c.exercise)
        groups[sms.batch_key(item)].append(item)
    chunks = [g[i:i + sms.max_batch] for g in groups.values() for i in range(0, len(g), sms.max_batch)]
    results = await asyncio.gather(*(sms.send_batch(chunk) for chunk in chunks))
    finished = []
    for chunk, outcomes in zip(chunks, results, strict=True):
        for item, o in zip(chunk, outcomes, strict=True):
            assert isinstance(o, Ok), o
            finished.append(Finished(item.delivery_id, "sent", provider_id=o.provider_id,
                                     provider_status=o.provider_status, outcome="ok"))
    record.put_nowait(finished)
    return len(claimed)


async def recorder(db: Database, owner: str, queue: asyncio.Queue[list[Finished] | None]) -> None:
    while (finished := await queue.get()) is not None:
        async with db.write() as conn:
            await store.finish_many(conn, finished, owner=owner, now=datetime.now(UTC))


async def run(provider_name: str, count: int, url: str) -> dict[str, Any]:
    port = free_port()
    module = "tests.channels.aliyun_server" if provider_name == "aliyun" else "tests.channels.tencent_server"
    server = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)], cwd=ROOT)
    db = Database(url)
    try:
        await wait_listening(port)
        base = f"http://127.0.0.1:{port}"
        await upgrade(db)
        started = time.perf_counter()
        draft_id = await prepare(db, count)
        prepared = time.perf_counter() - started
        reg = registry()
        provider = aliyun_provider(reg, base, timeout=60) if provider_name == "aliyun" else \
            tencent_provider(reg, base, timeout=60)
        timed = Timed(provider)
        sms = channel([provider], reg, db)
        approved = time.perf_counter()
        async with db.write() as conn:
            at = datetime.now(UTC)
            await draft_store.transition(conn, draft_id, "pending", "approved", at=at, by="bench")
            record = await draft_store.get(conn, draft_id)
            assert record is not None
            await fanout.fan_out(conn, record.row, record.messages, now=at, test_phones=[])
            await draft_store.transition(conn, draft_id, "approved", "dispatching", at=at)
        committed = time.perf_counter()
        sent = [0]
        owner = f"bench:{os.getpid()}"
        queue: asyncio.Queue[list[Finished] | None] = asyncio.Queue()
        recording = asyncio.create_task(recorder(db, owner, queue))

        async def lane() -> None:
            while got := await cycle(db, sms, owner, queue):  # type: ignore[arg-type]
                sent[0] += got

        await asyncio.gather(*(lane() for _ in range(LANES)))
        queue.put_nowait(None)
        await recording
        done = time.perf_counter()
        async with aiohttp.ClientSession() as http, http.get(f"{base}/_stats") as r:
            stats = await r.json()
        await sms.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        await db.close()
    assert sent[0] == count and stats["numbers"] == count and stats["refused_signatures"] == 0, (sent, stats)
    return {"provider": provider_name, "residents": count, "requests": stats["requests"],
            "seconds_to_last_request": round(timed.last_answer - approved, 2),
            "seconds_all_recorded": round(done - approved, 2),
            "fanout_seconds": round(committed - approved, 2), "setup_seconds": round(prepared, 2),
            "database": "postgresql" if url.startswith("postgres") else "sqlite",
            "driver": "send_batch as the batching worker will call it (the worker on this branch sends one by one)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["aliyun", "tencent"], action="append")
    parser.add_argument("--residents", type=int, default=450_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file (PostgreSQL: an empty database)")
    args = parser.parse_args()
    os.environ.setdefault("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    out = []
    for name in args.provider or ["aliyun", "tencent"]:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(run(name, args.residents, args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"))
        print(f"{name}: {result['residents']} residents handed over in {result['seconds_to_last_request']} s after "
              f"approval with {result['requests']} requests", flush=True)
        out.append(result)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
