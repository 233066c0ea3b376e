"""Feed health as people read it: last success, last error, failures, entries, and the stale flag."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.settings.feeds import FeedSection


@dataclass(frozen=True)
class FeedHealth:
    name: str
    kind: str
    enabled: bool
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error_at: datetime | None
    last_error: str
    consecutive_failures: int
    entries_seen: int
    last_new_entry_at: datetime | None
    next_poll_at: datetime | None
    stale_after_seconds: float
    stale: bool
    silent_seconds: float | None  # since the last successful poll; None if it never succeeded

    def as_json(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d is not None else None

        return {
            "name": self.name, "kind": self.kind, "enabled": self.enabled,
            "last_success_at": iso(self.last_success_at), "last_attempt_at": iso(self.last_attempt_at),
            "last_error_at": iso(self.last_error_at), "last_error": self.last_error or None,
            "consecutive_failures": self.consecutive_failures, "entries_seen": self.entries_seen,
            "last_new_entry_at": iso(self.last_new_entry_at), "next_poll_at": iso(self.next_poll_at),
            "stale_after_seconds": self.stale_after_seconds, "stale": self.stale,
            "silent_seconds": self.silent_seconds,
        }


def feed_health(configured: list[FeedSection], rows: list[Any], now: datetime) -> list[FeedHealth]:
    """One line per configured feed (and per feed still in the table but no longer configured).

    A feed is stale when nothing was heard from it (no successful poll) for longer than its
    stale_after_seconds, or when it never succeeded at all.
    """
    by_name = {r.name: r for r in rows}
    out: list[FeedHealth] = []
    names = [f.name for f in configured] + [n for n in by_name if n not in {f.name for f in configured}]
    sections = {f.name: f for f in configured}
    for name in names:
        row = by_name.get(name)
        section = sections.get(name)
        stale_after = section.stale_after_seconds if section else 0.0
        success = row.last_success_at if row is not None else None
        silent = (now - success).total_seconds() if success is not None else None
        enabled = bool(section and section.enabled)
        stale = enabled and (silent is None or silent > stale_after)
        out.append(FeedHealth(
            name=name, kind=section.kind if section else "(not configured)", enabled=enabled,
            last_success_at=success,
            last_attempt_at=row.last_attempt_at if row is not None else None,
            last_error_at=row.last_error_at if row is not None else None,
            last_error=(row.last_error or "") if row is not None else "",
            consecutive_failures=int(row.consecutive_failures or 0) if row is not None else 0,
            entries_seen=int(row.entries_seen or 0) if row is not None else 0,
            last_new_entry_at=row.last_new_entry_at if row is not None else None,
            next_poll_at=row.next_poll_at if row is not None else None,
            stale_after_seconds=stale_after, stale=stale, silent_seconds=silent,
        ))
    return out


class StaleWatch:
    """Logs when a feed turns stale and when it recovers (once each, not every minute)."""

    def __init__(self, service: Any):
        self.service = service
        self.flagged: set[str] = set()

    async def check(self) -> list[FeedHealth]:
        import logging

        from alerts.store import feeds as feed_store

        log = logging.getLogger("alerts.feeds")
        async with self.service.db.read() as conn:
            rows = await feed_store.all_feeds(conn)
        health = feed_health(self.service.settings.feeds.feeds, rows, self.service.clock.now())
        for h in health:
            if h.stale and h.name not in self.flagged:
                self.flagged.add(h.name)
                silent = "never polled successfully" if h.silent_seconds is None else f"silent for {h.silent_seconds:.0f} s"
                log.warning("feed %s is STALE: %s (stale after %.0f s); last error: %s", h.name, silent,
                            h.stale_after_seconds, h.last_error or "none")
            elif not h.stale and h.name in self.flagged:
                self.flagged.discard(h.name)
                log.info("feed %s is no longer stale", h.name)
        return health
