"""config/feeds.yaml: where warnings come from: polled HTTP feeds, directories, the demo replay."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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
    headers_from_env: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True

    @model_validator(mode="after")
    def _needs_source(self) -> FeedSection:
        if self.kind == "http" and not self.url:
            raise ValueError("an http feed needs url")
        if self.kind == "http" and self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        if self.kind in ("directory", "demo") and not self.path:
            raise ValueError(f"a {self.kind} feed needs path")
        return self


class FeedsConfig(Section):
    feeds: list[FeedSection] = Field(default_factory=list)
    max_document_bytes: int = Field(1_048_576, ge=1024)
