"""Server-side request forgery through a feed: links, redirects and names that lead inside are refused.

The 'internal' victim listens on 127.0.0.2 (loopback, so no traffic leaves the machine); the feed's
configuration allows only 127.0.0.1/32, the way a real one allows nothing private at all.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from alerts.feeds.poller import FeedPoller
from alerts.security.netguard import AddressRefused, GuardedResolver, networks, url_problem
from alerts.store import problems as problem_store
from tests.security.feedsupport import Host, cap, feed, hosting, make_service


async def test_links_and_redirects_to_inside_or_foreign_hosts_are_never_fetched(config_dir: Path,
                                                                                database: Any) -> None:
    service = make_service(config_dir, database)
    async with hosting(Host()) as home, hosting(Host(), "127.0.0.2") as victim, hosting(Host()) as stranger:
        victim.docs = {"secret": cap(9)}
        stranger.docs = {"x": cap(8)}
        home.docs = {"ok": cap(1)}
        home.redirects = {"/r/secret": f"{victim.base}/cap/secret"}
        home.links = [
            ("direct", f"{victim.base}/cap/secret"),  # an allowed origin, but on an address not allowed
            ("redirected", "/r/secret"),  # the feed's own origin, redirecting inside
            ("foreign", f"{stranger.base}/cap/x"),  # an origin the configuration does not list
            ("ok", "/cap/ok"),
        ]
        section = feed(f"{home.base}/feed.atom", fetch_origins=[victim.base])
        report = await FeedPoller(service, section).poll()

        assert report.outcome == "fetched" and len(report.alert_ids) == 1
        assert victim.requests == [] and stranger.requests == []
        reasons = " | ".join(report.deferred)
        assert reasons.count("127.0.0.2 is a private, loopback or link-local address") == 2
        assert "fetch_origins" in reasons
        async with service.db.read() as conn:
            problem = await problem_store.get(conn, "feed-entries:bureau")
        assert problem is not None and problem.count == 1 and "allow_networks" in problem.todo
    await service.close()


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.5/cap.xml", "http://[::1]:8080/x",
    "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/", "http://localhost:9/x", "http://192.168.1.1/",
    "http://100.64.0.1/", "ftp://cap.example.cn/x",
])
def test_private_loopback_and_link_local_addresses_are_refused_as_written(url: str) -> None:
    assert url_problem(url) is not None
    assert url_problem("https://cap.example.cn/x.xml") is None


async def test_names_are_checked_again_when_they_resolve() -> None:
    resolver = GuardedResolver()
    with pytest.raises(AddressRefused, match="localhost resolves to"):
        await resolver.resolve("localhost", 80)
    allowed = GuardedResolver(networks(["127.0.0.0/8", "::1/128"]))
    found = await allowed.resolve("localhost", 80)
    assert found and all(ipaddress.ip_address(r["host"]).is_loopback for r in found)
    await resolver.close()
    await allowed.close()
