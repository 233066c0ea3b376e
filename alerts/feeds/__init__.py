"""Received documents into the alert model: CAP and national-profile alerts, Atom/RSS index feeds."""

from alerts.feeds.cap import parse_alert, read_alert
from alerts.feeds.index import IndexEntry, IndexResult, parse_index
from alerts.feeds.safexml import DEFAULT_LIMITS, ParseLimits, Rejected

__all__ = [
    "DEFAULT_LIMITS",
    "IndexEntry",
    "IndexResult",
    "ParseLimits",
    "Rejected",
    "parse_alert",
    "parse_index",
    "read_alert",
]
