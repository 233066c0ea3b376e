"""A feed's credentials never travel in URLs and go only to the feed's own origin, also across redirects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.feeds.poller import FeedPoller
from tests.security.feedsupport import Host, cap, feed, hosting, make_service


async def test_credentials_go_to_the_feed_origin_only(config_dir: Path, database: Any) -> None:
    service = make_service(config_dir, database)
    async with hosting(Host()) as home, hosting(Host()) as other:
        other.docs = {"b": cap(2), "c": cap(3)}
        home.docs = {"a": cap(1)}
        home.redirects = {"/moved/c": f"{other.base}/cap/c"}
        home.links = [("a", "/cap/a"), ("b", f"{other.base}/cap/b"), ("c", "/moved/c")]
        section = feed(f"{home.base}/feed.atom", fetch_origins=[other.base],
                       headers_from_env={"Authorization": "FEED_AUTH", "X-Api-Key": "FEED_KEY"})
        report = await FeedPoller(service, section, env={"FEED_AUTH": "Bearer t0ken", "FEED_KEY": "k3y"}).poll()

        assert report.outcome == "fetched" and len(report.alert_ids) == 3, report
        for path in ("/feed.atom", "/cap/a", "/moved/c"):
            sent = home.seen(path)[0]
            assert sent["Authorization"] == "Bearer t0ken" and sent["X-Api-Key"] == "k3y"
        assert len(other.requests) == 2
        for _path, headers in other.requests:  # another origin: the same port number would not be enough
            assert "Authorization" not in headers and "X-Api-Key" not in headers
    await service.close()


def test_a_feed_url_with_credentials_is_refused_by_the_configuration() -> None:
    with pytest.raises(ValidationError) as err:
        feed("https://user:pass@cap.example.cn/index.atom", allow_networks=[])
    assert "credentials never travel in URLs" in str(err.value) and "headers_from_env" in str(err.value)
