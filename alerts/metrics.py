"""Prometheus metrics computed at scrape time from the database, so every replica reports the same truth.

Nothing is counted in process memory: a scrape reads the `feeds`, `alerts`, `drafts`, `deliveries`
and `delivery_attempts` tables. That keeps other stages free of instrumentation and makes the
numbers correct across replicas and restarts (any replica can be scraped).

Latencies come from stored timestamps over a sliding window (the last `WINDOW`, newest
`MAX_ROWS` rows per stage) and are exposed as quantile gauges with a count and sum, Summary
style: `alerts_stage_latency_seconds{stage, quantile}`, and as gauge histograms over the same window
(`alerts_stage_latency_window_seconds_bucket{stage, le}`, `_gcount`, `_gsum`) for histogram_quantile()
across replicas. A cumulative histogram is not used because rows leave the window (and retention
prunes them), which would make its counters go down.

    received_to_draft           alerts.received_at → drafts.created_at
    draft_to_approved           drafts.created_at (pending) → drafts.decided_at, approved drafts
    approved_to_first_request   drafts.decided_at → first delivery attempt of the draft
    approved_to_last_request    drafts.decided_at → last delivery attempt of the draft

Attempt times are recorded when the provider answered, so "request" here means the provider's
answer to it, late by one provider latency (reported separately as alerts_provider_latency_seconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.store.tables import alerts, deliveries, delivery_attempts, drafts, feeds, messages, raw_inputs

WINDOW = timedelta(hours=24)
MAX_ROWS = 10_000
QUANTILES = (0.5, 0.9, 0.99, 1.0)
APPROVED_STATES = ("approved", "dispatching", "sent", "partly_failed")
OPEN_STATES = ("queued", "in_flight")


@dataclass
class Snapshot:
    """Everything one scrape reports, read in one go from the database."""

    now: datetime
    feeds: list[Any] = field(default_factory=list)
    stale_after: dict[str, float] = field(default_factory=dict)
    feed_documents: list[tuple[str, str, int]] = field(default_factory=list)
    alerts: list[tuple[str, str, str, int]] = field(default_factory=list)
    drafts: list[tuple[str, str, int]] = field(default_factory=list)
    deliveries: list[tuple[str, str, int]] = field(default_factory=list)
    attempts: list[tuple[str, str, str, int]] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    provider_latency: dict[str, list[float]] = field(default_factory=dict)
    outbox_depth: int = 0
    outbox_due: int = 0
    outbox_in_flight: int = 0
    outbox_in_doubt: int = 0
    outbox_oldest_age: float = 0.0


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


async def snapshot(conn: AsyncConnection, now: datetime, stale_after: dict[str, float] | None = None) -> Snapshot:
    """Read the figures of one scrape."""
    since = now - WINDOW
    snap = Snapshot(now=now, stale_after=dict(stale_after or {}))
    snap.feeds = list(await conn.execute(select(feeds).order_by(feeds.c.name)))
    snap.feed_documents = [(r[0], r[1], int(r[2])) for r in await conn.execute(
        select(raw_inputs.c.source, raw_inputs.c.outcome, func.count()).group_by(raw_inputs.c.source, raw_inputs.c.outcome))]
    snap.alerts = [(r[0] or "unknown", r[1] or "none", r[2], int(r[3])) for r in await conn.execute(
        select(alerts.c.hazard, alerts.c.level, alerts.c.status, func.count())
        .group_by(alerts.c.hazard, alerts.c.level, alerts.c.status))]
    snap.drafts = [(r[0], r[1], int(r[2])) for r in await conn.execute(
        select(drafts.c.state, drafts.c.kind, func.count()).group_by(drafts.c.state, drafts.c.kind))]
    snap.deliveries = [(r[0], r[1], int(r[2])) for r in await conn.execute(
        select(deliveries.c.channel, deliveries.c.state, func.count()).group_by(deliveries.c.channel, deliveries.c.state))]
    snap.attempts = [(r[0], r[1], r[2] or "", int(r[3])) for r in await conn.execute(
        select(deliveries.c.channel, delivery_attempts.c.outcome, delivery_attempts.c.error_code, func.count())
        .join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
        .where(delivery_attempts.c.at >= since)
        .group_by(deliveries.c.channel, delivery_attempts.c.outcome, delivery_attempts.c.error_code))]

    received = await conn.execute(
        select(drafts.c.created_at, alerts.c.received_at).join(alerts, alerts.c.id == drafts.c.alert_id)
        .where(drafts.c.created_at >= since).order_by(drafts.c.id.desc()).limit(MAX_ROWS))
    snap.stages["received_to_draft"] = [s for r in received if (s := _seconds(r[0], r[1])) is not None]
    decided = await conn.execute(
        select(drafts.c.decided_at, drafts.c.created_at)
        .where(and_(drafts.c.decided_at >= since, drafts.c.state.in_(APPROVED_STATES)))
        .order_by(drafts.c.id.desc()).limit(MAX_ROWS))
    snap.stages["draft_to_approved"] = [s for r in decided if (s := _seconds(r[0], r[1])) is not None]
    per_draft = (
        select(messages.c.draft_id.label("draft_id"), func.min(delivery_attempts.c.at).label("first"),
               func.max(delivery_attempts.c.at).label("last"))
        .join(deliveries, deliveries.c.message_id == messages.c.id)
        .join(delivery_attempts, delivery_attempts.c.delivery_id == deliveries.c.id)
        .where(delivery_attempts.c.at >= since)
        .group_by(messages.c.draft_id)
        .subquery()
    )
    rows = list(await conn.execute(
        select(per_draft.c.first, per_draft.c.last, drafts.c.decided_at)
        .join(drafts, drafts.c.id == per_draft.c.draft_id).where(drafts.c.decided_at.is_not(None))
        .order_by(drafts.c.id.desc()).limit(MAX_ROWS)))
    snap.stages["approved_to_first_request"] = [s for r in rows if (s := _seconds(_utc(r[0]), r[2])) is not None]
    snap.stages["approved_to_last_request"] = [s for r in rows if (s := _seconds(_utc(r[1]), r[2])) is not None]

    latency = await conn.execute(
        select(deliveries.c.channel, delivery_attempts.c.latency_ms)
        .join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
        .where(and_(delivery_attempts.c.at >= since, delivery_attempts.c.latency_ms.is_not(None)))
        .order_by(delivery_attempts.c.id.desc()).limit(MAX_ROWS))
    for channel, ms in latency:
        snap.provider_latency.setdefault(channel, []).append(float(ms) / 1000.0)

    row = (await conn.execute(select(
        func.count(),
        func.sum(_case(and_(deliveries.c.state == "queued", deliveries.c.next_attempt_at <= now))),
        func.sum(_case(deliveries.c.state == "in_flight")),
        func.sum(_case(deliveries.c.in_doubt.is_(True))),
        func.min(deliveries.c.created_at),
    ).where(deliveries.c.state.in_(OPEN_STATES)))).first()
    if row is not None:
        snap.outbox_depth = int(row[0] or 0)
        snap.outbox_due = int(row[1] or 0)
        snap.outbox_in_flight = int(row[2] or 0)
        snap.outbox_in_doubt = int(row[3] or 0)
        oldest = _utc(row[4])
        snap.outbox_oldest_age = _seconds(now, oldest) or 0.0
    return snap


def _case(condition: Any) -> Any:
    from sqlalchemy import case

    return case((condition, 1), else_=0)


def _utc(value: Any) -> datetime | None:
    """Aggregates of timestamps, made timezone-aware UTC whatever form the driver returned them in."""
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns text for aggregates of timestamps
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile; NaN for no values (Prometheus convention for an empty summary)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def _summary(name: str, doc: str, label: str, series: dict[str, list[float]]) -> Iterator[Metric]:
    """A summary over the window: quantiles, count and sum as one family of type summary (promtool
    checks that quantile, _count and _sum belong to a summary)."""
    m = Metric(name, doc, "summary")
    for key, values in sorted(series.items()):
        for q in QUANTILES:
            m.add_sample(name, {label: key, "quantile": _fmt(q)}, quantile(values, q))
        m.add_sample(f"{name}_count", {label: key}, float(len(values)))
        m.add_sample(f"{name}_sum", {label: key}, float(sum(values)))
    yield m


# Bucket bounds in seconds: from a provider's answer (tens of ms) to an approval at night (an hour).
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def _histogram(name: str, doc: str, label: str, series: dict[str, list[float]]) -> Metric:
    """The same window as buckets: a gauge histogram (its counts may fall as rows leave the window,
    which a cumulative histogram's counters must never do), so dashboards can aggregate across
    replicas and compute any quantile with histogram_quantile()."""
    h = GaugeHistogramMetricFamily(name, f"{doc} (buckets)", labels=[label])
    for key, values in sorted(series.items()):
        ordered = sorted(values)
        buckets, i = [], 0
        for bound in BUCKETS:
            while i < len(ordered) and ordered[i] <= bound:
                i += 1
            buckets.append((_bound(bound), float(i)))
        buckets.append(("+Inf", float(len(ordered))))
        h.add_metric([key], buckets, gsum_value=float(sum(ordered)))
    return h


def _bound(value: float) -> str:
    return str(int(value)) + ".0" if value == int(value) else str(value)


def _fmt(q: float) -> str:
    return "1" if q == 1.0 else str(q)


class DatabaseCollector(Collector):
    """Yields the metric families of one snapshot (built fresh for each scrape)."""

    def __init__(self, snap: Snapshot):
        self.snap = snap

    def collect(self) -> Iterable[Metric]:
        s = self.snap
        yield from self._feeds()
        m = CounterMetricFamily("alerts_alerts_received", "Alerts stored, by hazard, level and CAP status",
                                labels=["hazard", "level", "status"])
        for hazard, level, status, n in s.alerts:
            m.add_metric([hazard, level, status], n)
        yield m
        g = GaugeMetricFamily("alerts_drafts", "Drafts by state and kind", labels=["state", "kind"])
        for state, kind, n in s.drafts:
            g.add_metric([state, kind], n)
        yield g
        g = GaugeMetricFamily("alerts_deliveries", "Deliveries by channel and state", labels=["channel", "state"])
        for channel, state, n in s.deliveries:
            g.add_metric([channel, state], n)
        yield g
        g = GaugeMetricFamily("alerts_provider_attempts_window",
                              f"Provider attempts in the last {_hours()} h by channel, outcome and error code",
                              labels=["channel", "outcome", "error_code"])
        for channel, outcome, code, n in s.attempts:
            g.add_metric([channel, outcome, code], n)
        yield g
        g = GaugeMetricFamily("alerts_provider_errors_window",
                              f"Provider attempts that did not succeed in the last {_hours()} h", labels=["channel"])
        errors: dict[str, int] = {}
        for channel, outcome, _code, n in s.attempts:
            if outcome != "ok":
                errors[channel] = errors.get(channel, 0) + n
        for channel, n in sorted(errors.items()):
            g.add_metric([channel], n)
        yield g
        yield from _summary("alerts_stage_latency_seconds",
                            f"Seconds between pipeline stages, last {_hours()} h", "stage", s.stages)
        yield from _summary("alerts_provider_latency_seconds",
                            f"Seconds a provider took to answer a send, last {_hours()} h", "channel",
                            s.provider_latency)
        yield _histogram("alerts_stage_latency_window_seconds",
                         f"Seconds between pipeline stages, last {_hours()} h", "stage", s.stages)
        yield _histogram("alerts_provider_latency_window_seconds",
                         f"Seconds a provider took to answer a send, last {_hours()} h", "channel", s.provider_latency)
        for name, value, doc in (
            ("alerts_outbox_depth", s.outbox_depth, "Deliveries queued or in flight"),
            ("alerts_outbox_due", s.outbox_due, "Queued deliveries whose send time has come"),
            ("alerts_outbox_in_flight", s.outbox_in_flight, "Deliveries claimed by a worker right now"),
            ("alerts_outbox_in_doubt", s.outbox_in_doubt, "Open deliveries resent after a worker died"),
            ("alerts_outbox_oldest_age_seconds", s.outbox_oldest_age, "Age of the oldest open delivery"),
        ):
            yield GaugeMetricFamily(name, doc, value=value)

    def _feeds(self) -> Iterator[Metric]:
        s = self.snap
        now_ts = s.now.timestamp()
        last_ok = GaugeMetricFamily("alerts_feed_last_success_timestamp_seconds", "Last successful fetch",
                                    labels=["feed"])
        last_try = GaugeMetricFamily("alerts_feed_last_attempt_timestamp_seconds", "Last fetch attempt", labels=["feed"])
        stale = GaugeMetricFamily("alerts_feed_staleness_seconds",
                                  "Seconds since the last successful fetch (+Inf if none yet)", labels=["feed"])
        is_stale = GaugeMetricFamily("alerts_feed_stale", "1 when staleness exceeds feeds.yaml stale_after_seconds",
                                     labels=["feed"])
        failures = GaugeMetricFamily("alerts_feed_consecutive_failures", "Failed fetches since the last success",
                                     labels=["feed"])
        entries = CounterMetricFamily("alerts_feed_entries", "New entries taken from the feed", labels=["feed"])
        for f in s.feeds:
            if f.last_success_at is not None:
                last_ok.add_metric([f.name], f.last_success_at.timestamp())
            if f.last_attempt_at is not None:
                last_try.add_metric([f.name], f.last_attempt_at.timestamp())
            age = now_ts - f.last_success_at.timestamp() if f.last_success_at else math.inf
            stale.add_metric([f.name], age)
            limit = s.stale_after.get(f.name)
            is_stale.add_metric([f.name], 1.0 if limit is not None and age > limit else 0.0)
            failures.add_metric([f.name], f.consecutive_failures)
            entries.add_metric([f.name], f.entries_seen)
        docs = GaugeMetricFamily("alerts_feed_documents", "Raw inputs kept (within retention) by source and outcome",
                                 labels=["source", "outcome"])
        for source, outcome, n in s.feed_documents:
            docs.add_metric([source, outcome], n)
        yield from (last_ok, last_try, stale, is_stale, failures, entries, docs)


def _hours() -> int:
    return int(WINDOW.total_seconds() // 3600)


def render(snap: Snapshot) -> bytes:
    """The Prometheus text exposition of one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(snap))
    return generate_latest(registry)
