"""Large fan-outs in slices, so the first message leaves within a fraction of a second of the approval.

A red warning to a whole city is 450,000 delivery rows: written in the approval's transaction, the
first request would wait for all of them (about two seconds on SQLite, more on PostgreSQL). Instead
the approval's transaction writes the first slice of residents (by id, the same selection rules as
ever: alerts/outbox/fanout.py) together with a job row saying which residents are still to come; it
commits, the worker starts sending at once, and the rest is written in further slices meanwhile.

What still holds: an approval and its deliveries' plan commit together (a crash between slices leaves
the job, and any worker continues it: the inserts are idempotent). What changes: the draft's deliveries
appear over a few seconds, so a later decision in the same chain first finishes the earlier fan-out
(`finish_chain`, in its own transaction) so that "already reached in this chain" sees everyone; a
withdrawal ends the job with the queued rows. Small fan-outs (fewer than SLICE_ABOVE resident ids)
are written whole in the approval, as before.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.outbox import fanout
from alerts.settings.channels import CampaignsSection
from alerts.store import drafts as draft_store
from alerts.store.engine import Database
from alerts.store.tables import fanout_jobs, residents
from alerts.workflow import audit

log = logging.getLogger("alerts.outbox")

FIRST_SLICE = 2_000  # resident ids written with the approval (about 10 ms on SQLite)
SLICE = 25_000  # resident ids per later transaction (about 0.1 s of writing on SQLite)
SLICE_ABOVE = 50_000  # fan-outs over fewer resident ids are written whole, in the approval


def _sliceable(draft: Any, msgs: list[Any]) -> bool:
    return (not draft.exercise and draft.kind != "campaign"
            and any(m.channel == "sms" and m.audience in ("residents", "elderly") for m in msgs))


async def fan_out(conn: AsyncConnection, draft: Any, msgs: list[Any], *, now: datetime, test_phones: list[str],
                  campaigns: CampaignsSection | None = None, warning_budget: int = 0,
                  voice_min_level: str | None = None) -> fanout.FanoutResult:
    """The approval's fan-out: whole when small, otherwise the first slice and a job for the rest.
    Its loudspeaker packages are planned in the same transaction (made later, in the background)."""
    from alerts.broadcast.packages import plan_packages

    await finish_chain(conn, draft.group_key, now=now)
    await plan_packages(conn, draft, msgs, now=now)
    whole = dict(now=now, test_phones=test_phones, campaigns=campaigns, warning_budget=warning_budget,
                 voice_min_level=voice_min_level)
    if not _sliceable(draft, msgs):
        return await fanout.fan_out(conn, draft, msgs, **whole)
    low, high = (await conn.execute(select(func.min(residents.c.id), func.max(residents.c.id)))).one()
    if low is None or high - low < SLICE_ABOVE:
        return await fanout.fan_out(conn, draft, msgs, **whole)
    first_last = low + FIRST_SLICE - 1
    result = await fanout.fan_out(conn, draft, msgs, **whole, residents_window=(low, first_last))
    await conn.execute(fanout_jobs.insert().values(draft_id=draft.id, group_key=draft.group_key,
                                                   next_id=first_last + 1, last_id=high, written=result.deliveries,
                                                   warning_budget=warning_budget, created_at=now, updated_at=now))
    return result


async def _slice(conn: AsyncConnection, job: Any, now: datetime, *, size: int) -> bool:
    """Write one more slice of a job; False once the job is over (done, or its draft stopped)."""
    record = await draft_store.get(conn, job.draft_id)
    if record is None or record.row.state != "dispatching":
        await conn.execute(delete(fanout_jobs).where(fanout_jobs.c.draft_id == job.draft_id))
        log.info("fan-out of draft %s stopped: the draft is %s", job.draft_id, record.row.state if record else "gone")
        return False
    last = min(job.next_id + size - 1, job.last_id)
    result = await fanout.fan_out(conn, record.row, record.messages, now=now, test_phones=[],
                                  warning_budget=job.warning_budget, residents_window=(job.next_id, last),
                                  organisations=False)
    written = job.written + result.deliveries
    if last >= job.last_id:
        await conn.execute(delete(fanout_jobs).where(fanout_jobs.c.draft_id == job.draft_id))
        if fanout.nobody_reached(record.row, written):
            await fanout.report_nobody(conn, record.row, record.messages, now)
        await audit.append(conn, at=now, actor="system", action="draft.fanout_done", target=f"draft:{job.draft_id}",
                           origin="outbox", after={"deliveries": written})
        return False
    # Only the process whose cursor is still current moves it (another may have written the same slice:
    # the inserts skip existing rows, so nothing doubles).
    await conn.execute(update(fanout_jobs).where(and_(fanout_jobs.c.draft_id == job.draft_id,
                                                      fanout_jobs.c.next_id == job.next_id))
                       .values(next_id=last + 1, written=written, updated_at=now))
    return True


async def finish_chain(conn: AsyncConnection, group_key: str, *, now: datetime) -> int:
    """Write whatever earlier drafts of this chain still have to fan out (before a later decision)."""
    finished = 0
    for job in list(await conn.execute(select(fanout_jobs).where(fanout_jobs.c.group_key == group_key))):
        while await _slice(conn, job, now, size=job.last_id - job.next_id + 1):
            job = (await conn.execute(select(fanout_jobs).where(fanout_jobs.c.draft_id == job.draft_id))).one()
        finished += 1
    return finished


async def stop(conn: AsyncConnection, draft_id: int) -> None:
    """A withdrawn draft writes no more deliveries."""
    await conn.execute(delete(fanout_jobs).where(fanout_jobs.c.draft_id == draft_id))


async def continue_one(db: Database, now: datetime) -> bool:
    """One slice of the oldest job, in its own transaction; False when there is none."""
    async with db.read() as conn:  # looked for without the write lock: usually there is none
        found = (await conn.execute(select(fanout_jobs.c.draft_id).limit(1))).first()
    if found is None:
        return False
    async with db.write() as conn:
        job = (await conn.execute(select(fanout_jobs).order_by(fanout_jobs.c.created_at).limit(1))).first()
        if job is None:
            return False
        await _slice(conn, job, now, size=SLICE)
    return True


async def pending(db: Database) -> bool:
    """Whether any fan-out is still being written."""
    async with db.read() as conn:
        return (await conn.execute(select(fanout_jobs.c.draft_id).limit(1))).first() is not None
