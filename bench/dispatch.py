"""Dispatch benchmark: the real twilio library through the whole outbox worker path, against a local
Twilio-like server in another process, compared with a bare aiohttp loop POSTing the same requests.

Then two more runs (bench/dispatch_runs.py): approval of a red warning to 450,000 residents until the
first provider request (`first_request_latency_450k_s`), and a crash run of real `alerts worker`
processes killed with SIGKILL, counting what each kill leaves in doubt (`in_doubt_per_kill_max`).

Last line is JSON: {"messages_per_s", "bare_messages_per_s", "ratio", "first_request_latency_s",
"first_request_latency_450k_s", "in_doubt_per_kill_max", ...}.
Run: .venv/bin/python bench/dispatch.py [--messages N] [--database-url URL] [--residents N] [--kills N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

import aiohttp  # noqa: E402

from alerts.channels.twilio_sms import TwilioSmsChannel  # noqa: E402
from alerts.clock import Clock  # noqa: E402
from alerts.outbox import fanout  # noqa: E402
from alerts.outbox.worker import Worker  # noqa: E402
from alerts.settings.channels import ChannelsConfig  # noqa: E402
from alerts.store import drafts as draft_store  # noqa: E402
from alerts.store.engine import Database  # noqa: E402
from alerts.store.migrate import upgrade  # noqa: E402
from alerts.store.tables import residents  # noqa: E402
from bench.dispatch_runs import FirstRequest, crash_run, first_request_at_scale  # noqa: E402
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID  # noqa: E402

TEXT = "【高平应急科普】高平市气象台发布暴雨红色预警信号：远离河道、低洼地和危房，山区防范山洪、滑坡。"
CONCURRENCY = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise SystemExit("the local Twilio-like server did not start")


async def worker_path(url: str, base: str, count: int) -> dict[str, Any]:
    db = Database(url)
    await upgrade(db)
    at = datetime.now(UTC)
    rows = [dict(phone=f"+86139{i:08d}", area="140581101", village=None, groups="", language="zh-CN", consent_at=at,
                 consent_how="bench", status="active", created_at=at, updated_at=at, opted_out_how="")
            for i in range(count)]
    async with db.write() as conn:
        for k in range(0, count, 10_000):
            await conn.execute(residents.insert(), rows[k:k + 10_000])
        draft_id = await draft_store.create(
            conn, alert_id=None, kind="warning", hazard="rainstorm", level="red", group_key="chain:bench",
            exercise=False, created_by="system", at=at, expires_at=None,
            items=[draft_store.NewMessage(route="bench", template_id="t", template_hash="h", template_reviewed=True,
                                          audience="residents", channel="sms", language="zh-CN",
                                          areas=["140581101"], text=TEXT)])
    config = ChannelsConfig.model_validate({
        "sms": {"messages_per_second": 1_000_000, "burst": 10_000, "concurrency": CONCURRENCY},
        "outbox": {"batch_size": 500}})
    channel = FirstRequest(TwilioSmsChannel(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, messaging_service_sid=MESSAGING_SERVICE_SID, senders=[],
        status_callback_base="https://alerts.example.cn", api_base_url=base, messages_per_second=1_000_000,
        burst=10_000, concurrency=CONCURRENCY, timeout=15))
    worker = Worker(db, {"sms": channel}, config, Clock())
    # The approval (fan-out in its transaction), then the outbox is woken as the API does.
    approved = time.perf_counter()
    async with db.write() as conn:
        await draft_store.transition(conn, draft_id, "pending", "approved", at=at, by="bench")
        record = await draft_store.get(conn, draft_id)
        assert record is not None
        await fanout.fan_out(conn, record.row, record.messages, now=at, test_phones=[])
        await draft_store.transition(conn, draft_id, "approved", "dispatching", at=at)
    committed = time.perf_counter()
    result = await worker.drain()
    done = time.perf_counter()
    await channel.close()
    await db.close()
    assert result.sent == count, result
    return {"seconds": done - committed, "approval_seconds": committed - approved,
            "first_request_latency_s": (channel.at or done) - approved}


async def bare_path(base: str, count: int) -> float:
    """The same POSTs (form body, basic auth) with nothing but aiohttp and a semaphore."""
    endpoint = f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    headers = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN), "Accept": "application/json",
               "Content-Type": "application/x-www-form-urlencoded"}
    sem = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as http:
        async def one(i: int) -> None:
            form = {"To": f"+86139{i:08d}", "Body": TEXT, "MessagingServiceSid": MESSAGING_SERVICE_SID,
                    "StatusCallback": f"https://alerts.example.cn/hooks/twilio/status?d={i}"}
            # Encoded up front, the cheapest way to send a form (the worker path does the same).
            async with sem, http.post(endpoint, data=urlencode(form).encode(), headers=headers) as r:
                await r.read()
                assert r.status == 201

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return time.perf_counter() - start


async def main(count: int, url: str | None, repeat: int, residents: int, kills: int) -> dict[str, Any]:
    """Alternate bare and worker runs against the same server; report the median of each (this
    machine is shared, so single runs are noisy). Then the 450,000-resident approval and the crash run."""
    port, full_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.channels.fake_twilio", "--port", str(port)], cwd=ROOT)
    # The crash run needs the fake that keeps messages (reconciliation asks for them).
    full = subprocess.Popen([sys.executable, "-m", "tests.channels.fake_twilio", "--full", "--port", str(full_port)],
                            cwd=ROOT)
    bare_rates: list[float] = []
    runs: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    try:
        await wait_listening(port)
        await wait_listening(full_port)
        base = f"http://127.0.0.1:{port}"
        for _ in range(repeat):
            bare_rates.append(count / await bare_path(base, count))
            with tempfile.TemporaryDirectory() as tmp:
                real = await worker_path(url or f"sqlite:///{Path(tmp) / 'bench.db'}", base, count)
                if url:  # a fresh schema per run on PostgreSQL too
                    await reset(url)
            real["rate"] = count / real["seconds"]
            runs.append(real)
            print(f"  run: worker {real['rate']:.0f} msg/s, bare {bare_rates[-1]:.0f} msg/s", flush=True)
        if residents:
            with tempfile.TemporaryDirectory() as tmp:
                extra.update(await first_request_at_scale(url or f"sqlite:///{Path(tmp) / 'scale.db'}", base,
                                                          residents))
                if url:
                    await reset(url)
            print(f"  {residents} residents: first request {extra['first_request_latency_450k_s']} s after "
                  f"approval; rest of the fan-out {extra['fanout_rest_450k_s']} s", flush=True)
        if kills:
            extra.update(await crash_run(f"http://127.0.0.1:{full_port}", kills=kills))
            print(f"  crash run: in flight at each kill {extra['in_doubt_per_kill']}", flush=True)
    finally:
        for proc in (server, full):
            proc.terminate()
            proc.wait(timeout=10)
    rate = statistics.median(r["rate"] for r in runs)
    bare = statistics.median(bare_rates)
    return {"messages": count, "runs": repeat, "messages_per_s": round(rate), "bare_messages_per_s": round(bare),
            "ratio": round(rate / bare, 2),
            "first_request_latency_s": round(statistics.median(r["first_request_latency_s"] for r in runs), 3),
            "approval_seconds": round(statistics.median(r["approval_seconds"] for r in runs), 3),
            "database": "postgresql" if url and url.startswith("postgres") else "sqlite", **extra}


async def reset(url: str) -> None:
    from alerts.store.tables import metadata

    db = Database(url)
    async with db.write() as conn:
        await conn.run_sync(metadata.drop_all)
        from sqlalchemy import text

        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--database-url", default=None,
                        help="default: a temporary SQLite file; a PostgreSQL database here is emptied after each run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--residents", type=int, default=450_000,
                        help="residents for the approval-to-first-request run (0: skip it)")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs in the crash run (0: skip it)")
    args = parser.parse_args()
    out = asyncio.run(main(args.messages, args.database_url, args.repeat, args.residents, args.kills))
    print(f"worker path: {out['messages_per_s']} msg/s; bare aiohttp: {out['bare_messages_per_s']} msg/s; "
          f"ratio {out['ratio']}; first request {out['first_request_latency_s']} s after approval")
    print(json.dumps(out))
