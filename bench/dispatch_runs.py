"""Two runs of bench/dispatch.py besides the throughput comparison: approval of a red warning to 450,000
residents until the first provider request, and a crash run that counts what each SIGKILL leaves in
flight (in doubt). Kept apart so each stays readable."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from alerts.channels.base import Outbound, Outcome
from alerts.channels.twilio_sms import TwilioSmsChannel
from alerts.clock import Clock
from alerts.outbox import fanout, slices
from alerts.outbox.worker import Worker
from alerts.settings.channels import ChannelsConfig
from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.store.migrate import upgrade
from alerts.store.tables import deliveries, residents
from tests.channels.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID

ROOT = Path(__file__).resolve().parent.parent
TEXT = "【高平应急科普】高平市气象台发布暴雨红色预警信号：远离河道、低洼地和危房，山区防范山洪、滑坡。"
TOWNSHIPS = ["140581001", "140581002", "140581003", "140581101", "140581102", "140581103", "140581104",
             "140581105", "140581106", "140581107", "140581108", "140581109", "140581201", "140581202",
             "140581203"]


class FirstRequest:
    """Wraps the channel to note when the first provider request leaves."""

    def __init__(self, inner: TwilioSmsChannel):
        self.inner = inner
        self.name = inner.name
        self.at: float | None = None

    async def send(self, item: Outbound) -> Outcome:
        if self.at is None:
            self.at = time.perf_counter()
        return await self.inner.send(item)

    async def close(self) -> None:
        await self.inner.close()

    def sender_paces(self) -> dict[str, Any]:
        return self.inner.sender_paces()  # the shared rate budget is part of the path measured


async def add_residents(db: Database, count: int) -> None:
    at = datetime.now(UTC)
    async with db.write() as conn:
        for k in range(0, count, 20_000):
            await conn.execute(residents.insert(), [
                dict(phone=f"+86139{i:08d}", area=TOWNSHIPS[i % len(TOWNSHIPS)], village=None, groups="",
                     language="zh-CN", consent_at=at, consent_how="bench", status="active", created_at=at,
                     updated_at=at, opted_out_how="") for i in range(k, min(count, k + 20_000))])


async def new_draft(db: Database) -> int:
    at = datetime.now(UTC)
    async with db.write() as conn:
        return await draft_store.create(
            conn, alert_id=None, kind="warning", hazard="rainstorm", level="red", group_key=f"chain:bench:{at}",
            exercise=False, created_by="system", at=at, expires_at=None,
            items=[draft_store.NewMessage(route="bench", template_id="t", template_hash="h", template_reviewed=True,
                                          audience="residents", channel="sms", language="zh-CN", areas=TOWNSHIPS,
                                          text=TEXT)])


async def approve(db: Database, draft_id: int, *, sliced: bool) -> None:
    """What workflow/actions.py does on approval: the fan-out in the approval's transaction."""
    at = datetime.now(UTC)
    async with db.write() as conn:
        await draft_store.transition(conn, draft_id, "pending", "approved", at=at, by="bench")
        record = await draft_store.get(conn, draft_id)
        assert record is not None
        run = slices.fan_out if sliced else fanout.fan_out
        await run(conn, record.row, record.messages, now=at, test_phones=[])
        await draft_store.transition(conn, draft_id, "approved", "dispatching", at=at)


async def first_request_at_scale(url: str, base: str, count: int) -> dict[str, float]:
    """Approval of a red warning to `count` residents → the first provider request; and, for the
    trade-off, how long the rest of the fan-out takes, and an approval written whole."""
    db = Database(url)
    await upgrade(db)
    await add_residents(db, count)
    if db.dialect == "postgresql":  # a resident list imported earlier has been analysed by autovacuum
        async with db.write() as conn:
            await conn.execute(text("ANALYZE residents"))
    channel = FirstRequest(TwilioSmsChannel(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, messaging_service_sid=MESSAGING_SERVICE_SID, senders=[],
        status_callback_base="https://alerts.example.cn", api_base_url=base, messages_per_second=1_000_000,
        burst=10_000, concurrency=32, timeout=15))
    config = ChannelsConfig.model_validate({"sms": {"messages_per_second": 1_000_000, "burst": 10_000}})
    worker = Worker(db, {"sms": channel}, config, Clock())
    draft_id = await new_draft(db)
    await worker.run_once()  # a running service's worker is warm (its writer thread and connection are up)
    start = time.perf_counter()
    await approve(db, draft_id, sliced=True)
    committed = time.perf_counter()
    await worker.run_once(max_batches=1)  # the outbox is woken on commit, as the API does
    first = (channel.at or time.perf_counter()) - start
    await worker.stop_senders()
    rest = time.perf_counter()
    while await slices.continue_one(db, datetime.now(UTC)):
        pass
    rest_seconds = time.perf_counter() - rest
    async with db.read() as conn:
        written = int((await conn.execute(select(func.count()).select_from(deliveries))).scalar() or 0)
    whole_draft = await new_draft(db)
    whole = time.perf_counter()
    await approve(db, whole_draft, sliced=False)  # a second chain, written whole in the approval
    whole_seconds = time.perf_counter() - whole
    await channel.close()
    await db.close()
    return {"first_request_latency_450k_s": round(first, 3), "approval_commit_450k_s": round(committed - start, 3),
            "fanout_rest_450k_s": round(rest_seconds, 2), "fanout_rows_450k": written,
            "approval_whole_450k_s": round(whole_seconds, 2)}


def _config_copy(target: Path, *, concurrency: int) -> Path:
    shutil.copytree(ROOT / "config", target)
    service = target / "service.yaml"
    text = service.read_text(encoding="utf-8").replace("templates_dir: ../templates",
                                                       f"templates_dir: {ROOT / 'templates'}")
    service.write_text(text.replace("var_dir: ../var", f"var_dir: {target.parent / 'var'}"), encoding="utf-8")
    channels = target / "channels.yaml"
    text = channels.read_text(encoding="utf-8").replace("log_file: ../var/outbox.log",
                                                        f"log_file: {target.parent / 'var' / 'outbox.log'}")
    for pattern, value in ((r"messages_per_second: \d+", "messages_per_second: 100000"),
                           (r"(?m)^  burst: \d+", "  burst: 1000"),
                           (r"concurrency: \d+", f"concurrency: {concurrency}"),
                           (r"base_delay_seconds: \d+", "base_delay_seconds: 0.2"),
                           (r"poll_interval_seconds: [\d.]+", "poll_interval_seconds: 0.1")):
        text = re.sub(pattern, value, text, count=1)
    channels.write_text(text, encoding="utf-8")
    return target


async def crash_run(base: str, *, messages: int = 3000, kills: int = 3, concurrency: int = 32) -> dict[str, Any]:
    """Real `alerts worker` processes killed with SIGKILL while sending; the rows each kill left in
    flight (the in-doubt set) are counted before the next process reclaims them."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'crash.db'}"
        config = _config_copy(Path(tmp) / "config", concurrency=concurrency)
        db = Database(url)
        await upgrade(db)
        await add_residents(db, messages)
        await approve(db, await new_draft(db), sliced=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "ALERTS_"))}
        env.update(ALERTS_DATABASE_URL=url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                   TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID, ALERTS_TWILIO_API_BASE_URL=base)
        rng = random.Random(7)
        in_doubt: list[int] = []

        async def count(*states: str) -> int:
            async with db.read() as conn:
                return int((await conn.execute(select(func.count()).where(
                    deliveries.c.state.in_(states)))).scalar() or 0)

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "alerts", "worker", "--config", str(config), env=env,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

        began = time.perf_counter()
        for _ in range(kills):
            proc = await start()
            target = await count("sent") + rng.randint(100, messages // (kills + 1))
            while await count("sent") < target and proc.returncode is None:
                await asyncio.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            in_doubt.append(await count("in_flight"))
        proc = await start()
        while await count("queued", "in_flight"):
            await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        async with db.read() as conn:
            settled = {r[0]: int(r[1]) for r in await conn.execute(
                select(deliveries.c.reconciled, func.count()).where(deliveries.c.in_doubt.is_(True))
                .group_by(deliveries.c.reconciled))}
        await db.close()
    return {"in_doubt_per_kill": in_doubt, "in_doubt_per_kill_max": max(in_doubt), "crash_kills": kills,
            "crash_concurrency": concurrency, "crash_messages": messages,
            "crash_reconciled": settled, "crash_seconds": round(time.perf_counter() - began, 1)}
