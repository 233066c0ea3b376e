"""`alerts outbox`: what is queued, in flight, in doubt; and a burst-mode drain."""

from __future__ import annotations

import json
from pathlib import Path

import click

from alerts.cli.common import build_or_exit, config_option, run, settings_or_exit


@click.group()
def outbox() -> None:
    """The durable outbox of deliveries."""


@outbox.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def status(config_dir: Path, as_json: bool) -> None:
    """Is anything stuck, and why: deliveries by state, what waits and for what, paused channels,
    what crashes left in doubt and how it was settled."""
    from alerts.clock import Clock
    from alerts.store import delivery_stats
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade

    settings = settings_or_exit(config_dir)

    async def go() -> delivery_stats.OutboxStatus:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
            async with db.read() as conn:
                return await delivery_stats.status(conn, Clock().now())
        finally:
            await db.close()

    st = run(go)
    if as_json:
        click.echo(json.dumps(st.as_dict(), ensure_ascii=False, sort_keys=True))
        return
    for line in status_lines(st, settings.channels.outbox.in_doubt, settings.channels.outbox.in_doubt_campaigns,
                             settings.channels.outbox.lease_seconds):
        click.echo(line)


def status_lines(st: object, policy: str, campaign_policy: str, lease_seconds: float) -> list[str]:
    """One screen: the verdict first, then the figures behind it."""
    from alerts.store.delivery_stats import OutboxStatus

    assert isinstance(st, OutboxStatus)
    problems = []
    if st.paused:
        problems.append("paused: " + "; ".join(f"{k} until {v['until']} ({v['code']}: {v['reason'][:80]})"
                                               for k, v in sorted(st.paused.items())))
    if st.stuck_in_flight:
        problems.append(f"{st.stuck_in_flight} in flight past their lease (a worker died): the next reclaim "
                        f"(within {lease_seconds:.0f} s) looks them up at the provider")
    if st.due and st.oldest_due_seconds > 60:
        problems.append(f"{st.due} due and not sent; the oldest has waited {st.oldest_due_seconds:.0f} s: "
                        "is a worker running (`alerts serve` or `alerts worker`)?")
    lines = ["STUCK: " + p for p in problems] or ["nothing stuck: every due delivery is being sent"]
    lines.append("deliveries by state:")
    for state in ("queued", "in_flight", "sent", "delivered", "failed", "expired", "withdrawn", "suppressed"):
        lines.append(f"  {state:<11} {st.by_state.get(state, 0):>9}")
    lines.append(f"due now: {st.due}; deferred (retry, pause or quiet hours): {st.deferred}; "
                 f"oldest open: {st.oldest_open_seconds:.0f} s")
    if st.waiting_reasons:
        lines.append("queued, by last error: " + ", ".join(f"{k} {v}" for k, v in
                                                           sorted(st.waiting_reasons.items(), key=lambda kv: -kv[1])))
    lines.append(f"in doubt after crashes: {st.in_doubt_total} (provider had it, not resent: {st.in_doubt_found}; "
                 f"sent again: {st.in_doubt_resent}; failed: {st.in_doubt_failed}; still to look up: "
                 f"{st.in_doubt_pending}); where the provider cannot tell, policy: warnings {policy}, "
                 f"campaigns {campaign_policy}")
    lines.append(f"attempts recorded: {st.attempts}")
    return lines


@outbox.command("drain")
@config_option
@click.option("--max-batches", default=100_000, show_default=True, help="Stop after this many batches.")
def drain(config_dir: Path, max_batches: int) -> None:
    """Send everything due now and exit (burst mode). Deliveries a dead worker left in flight
    are reclaimed first: looked up at the provider before anything is sent again."""
    from alerts.store.migrate import upgrade

    settings = settings_or_exit(config_dir)
    svc = build_or_exit(settings)

    async def go() -> None:
        try:
            await upgrade(svc.db)
            reclaimed = await svc.worker.reclaim()
            result = await svc.worker.drain(max_batches=max_batches)
            click.echo(json.dumps({"reclaimed_in_doubt": reclaimed, **result.__dict__}))
        finally:
            await svc.close()

    run(go)


COMMANDS = [outbox]
