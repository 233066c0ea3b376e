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
    """Deliveries by state, what is due or deferred, and what a crash left in doubt."""
    from alerts.clock import Clock
    from alerts.store import deliveries
    from alerts.store.engine import Database
    from alerts.store.migrate import upgrade

    settings = settings_or_exit(config_dir)

    async def go() -> deliveries.OutboxStatus:
        db = Database(settings.database_url)
        try:
            await upgrade(db)
            async with db.read() as conn:
                return await deliveries.status(conn, Clock().now())
        finally:
            await db.close()

    st = run(go)
    if as_json:
        click.echo(json.dumps(st.as_dict(), ensure_ascii=False, sort_keys=True))
        return
    click.echo("deliveries by state:")
    for state in ("queued", "in_flight", "sent", "delivered", "failed", "expired", "withdrawn", "suppressed"):
        click.echo(f"  {state:<11} {st.by_state.get(state, 0):>9}")
    click.echo(f"due now: {st.due}; deferred (retry or quiet hours): {st.deferred}; "
               f"oldest open: {st.oldest_open_seconds:.0f} s")
    policy = settings.channels.outbox
    click.echo(f"in doubt after crashes: {st.in_doubt_total} (resent and sent: {st.in_doubt_resent}, "
               f"failed: {st.in_doubt_failed}, still open: {st.in_doubt_pending}); "
               f"policy: warnings {policy.in_doubt}, campaigns {policy.in_doubt_campaigns}")
    click.echo(f"attempts recorded: {st.attempts}")


@outbox.command("drain")
@config_option
@click.option("--max-batches", default=100_000, show_default=True, help="Stop after this many batches.")
def drain(config_dir: Path, max_batches: int) -> None:
    """Send everything due now and exit (burst mode). Deliveries a dead worker left in flight
    are handled first by the in-doubt policy."""
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
