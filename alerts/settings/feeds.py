"""config/feeds.yaml: where warnings come from: polled HTTP feeds, directories, the demo replay."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from alerts.security.netguard import Network, networks, origin, url_problem
from alerts.settings._base import Section


class FeedSection(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["http", "directory", "demo"]
    url: str | None = None
    path: str | None = None
    interval_seconds: float = Field(60.0, ge=1)
    stale_after_seconds: float = Field(3600.0, ge=1)
    timeout_seconds: float = Field(20.0, gt=0)
    max_document_bytes: int = Field(1_048_576, ge=1024)
    max_feed_bytes: int = Field(5_242_880, ge=1024)
    max_redirects: int = Field(3, ge=0, le=10)
    # After a failure the next poll waits interval × 2^(failures-1), jittered, at most this long.
    max_backoff_seconds: float = Field(1800.0, ge=1)
    # Linked CAP documents fetched per poll; the rest wait for the next poll (nothing is lost).
    max_fetches_per_poll: int = Field(50, ge=1)
    # Names of environment variables whose values are sent as headers (auth stays out of files).
    # These headers are credentials: they are sent only to the feed's own origin (scheme, host, port).
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    # Linked documents are fetched from the feed's own origin, or from these (e.g. https://cap.example.cn).
    fetch_origins: list[str] = Field(default_factory=list)
    # Private, loopback and link-local addresses are refused unless listed here (tests: 127.0.0.0/8).
    allow_networks: list[str] = Field(default_factory=list)
    enabled: bool = True

    @model_validator(mode="after")
    def _needs_source(self) -> FeedSection:
        if self.kind == "http" and not self.url:
            raise ValueError("an http feed needs url")
        if self.kind == "http" and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        if self.kind in ("directory", "demo") and not self.path:
            raise ValueError(f"a {self.kind} feed needs path")
        allowed = networks(self.allow_networks)  # raises ValueError naming a bad item
        if self.url:
            problem = url_problem(self.url, allow=allowed, where=f"url of feed {self.name}")
            if problem:
                raise ValueError(problem)
        for item in self.fetch_origins:
            if not origin(item) or item.rstrip("/").count("/") > 2:
                raise ValueError(f"fetch_origins: {item!r} is not an origin such as https://cap.example.cn")
        return self

    @property
    def networks(self) -> tuple[Network, ...]:
        return networks(self.allow_networks)

    @property
    def origins(self) -> frozenset[str]:
        """Where linked documents may come from: the feed's own origin and fetch_origins."""
        return frozenset(o for o in (origin(self.url or ""), *(origin(x) for x in self.fetch_origins)) if o)


class FeedsConfig(Section):
    feeds: list[FeedSection] = Field(default_factory=list)
    max_document_bytes: int = Field(1_048_576, ge=1024)
