"""A poisoned feed entry (credentials in its link, or a link that times out) never stops the good entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from alerts.feeds.poller import FeedPoller
from alerts.store import problems as problem_store
from alerts.store.tables import alerts
from tests.security.feedsupport import Host, cap, feed, hosting, make_service


async def alert_count(service: Any) -> int:
    async with service.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(alerts))).scalar_one())


async def test_good_entries_go_through_and_the_bad_ones_are_recorded_and_retried(config_dir: Path,
                                                                                  database: Any) -> None:
    service = make_service(config_dir, database)
    async with hosting(Host()) as host:
        port = host.base.rsplit(":", 1)[1]
        host.docs = {"good1": cap(1), "good2": cap(2), "slow": cap(3), "p": cap(4)}
        host.slow = {"slow"}
        host.links = [
            ("good2", "/cap/good2"),
            # With the feed's Authorization header this link made the HTTP client raise for the whole poll.
            ("poisoned", f"http://user:secret@127.0.0.1:{port}/cap/p"),
            ("slow", "/cap/slow"),
            ("good1", "/cap/good1"),
        ]
        poller = FeedPoller(service, feed(f"{host.base}/feed.atom", timeout_seconds=0.5,
                                          headers_from_env={"Authorization": "FEED_AUTH"}),
                            env={"FEED_AUTH": "Bearer feed-token"})

        report = await poller.poll()
        assert report.outcome == "fetched", report.error
        assert len(report.alert_ids) == 2 and await alert_count(service) == 2
        reasons = " | ".join(report.deferred)
        assert "entry urn:test:poisoned" in reasons and "user name or password" in reasons
        assert "entry urn:test:slow" in reasons and "timed out" in reasons
        assert "secret" not in reasons, "the credentials in the link are never repeated"
        async with service.db.read() as conn:
            problem = await problem_store.get(conn, "feed-entries:bureau")
        assert problem is not None and problem.resolved_at is None and "poisoned" in problem.why
        assert host.seen("/cap/p") == [], "a link with credentials is never fetched"

        # The failing entries are tried again at the next poll; the good ones are not fetched again.
        host.slow = set()
        again = await poller.poll()
        assert len(again.alert_ids) == 1 and len(again.deferred) == 1 and "poisoned" in again.deferred[0]
        assert len(host.seen("/cap/good1")) == 1 and len(host.seen("/cap/slow")) == 2

        # Once the feed drops the poisoned entry, the problem closes by itself.
        host.links = [link for link in host.links if link[0] != "poisoned"]
        assert not (await poller.poll()).deferred
        async with service.db.read() as conn:
            problem = await problem_store.get(conn, "feed-entries:bureau")
        assert problem is not None and problem.resolved_at is not None
    await service.close()
