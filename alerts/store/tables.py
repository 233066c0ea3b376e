"""The database schema as SQLAlchemy Core tables: one source of truth for every query module."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Stable constraint names so migrations are the same on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware on both SQLite and PostgreSQL.

    SQLite has no time zone type: values are stored as naive UTC text, which sorts correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware datetimes, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def ts(name: str, **kw: Any) -> Column[Any]:
    """A timestamp column; values are always timezone-aware UTC."""
    return Column(name, UtcDateTime(), **kw)


Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements only INTEGER keys

# --- intake -----------------------------------------------------------------------------------

raw_inputs = Table(
    "raw_inputs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),  # feed name, "push:<user>", "file:<path>"
    Column("origin", Text, nullable=False, default=""),  # URL or path it came from
    ts("received_at", nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),  # verbatim, truncated at the size limit
    Column("truncated", Boolean, nullable=False, default=False),
    Column("outcome", String(20), nullable=False),  # stored, duplicate, rejected
    Column("reason", Text, nullable=False, default=""),
    Column("alert_id", ForeignKey("alerts.id"), nullable=True),
    Index("ix_raw_inputs_received_at", "received_at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sender", String(300), nullable=False),
    Column("identifier", String(300), nullable=False),
    ts("sent", nullable=False),
    Column("status", String(20), nullable=False),
    Column("msg_type", String(20), nullable=False),
    Column("scope", String(20), nullable=False),
    Column("format", String(20), nullable=False),
    Column("hazard", String(60), nullable=True),
    Column("level", String(10), nullable=True),
    Column("headline", Text, nullable=False, default=""),
    ts("expires", nullable=True),
    # active, superseded, cancelled, expired
    Column("state", String(20), nullable=False, default="active"),
    Column("chain_id", BigInteger, nullable=True),  # id of the first alert of its Update chain
    Column("data", JSON, nullable=False),  # the normalised Alert as JSON
    ts("received_at", nullable=False),
    UniqueConstraint("sender", "identifier", name="uq_alerts_sender_identifier"),
    Index("ix_alerts_identifier", "identifier"),
    Index("ix_alerts_state_expires", "state", "expires"),
)

alert_references = Table(
    "alert_references",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", ForeignKey("alerts.id"), nullable=False),
    Column("ref_sender", String(300), nullable=False),
    Column("ref_identifier", String(300), nullable=False),
    Column("resolved_alert_id", ForeignKey("alerts.id"), nullable=True),
    Index("ix_alert_references_ref_identifier", "ref_identifier"),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", ForeignKey("alerts.id"), nullable=False),
    ts("at", nullable=False),
    Column("change", String(40), nullable=False),  # received, superseded, cancelled, expired, linked
    Column("cause", Text, nullable=False, default=""),
    Index("ix_alert_events_alert_id", "alert_id"),
)

feeds = Table(
    "feeds",
    metadata,
    Column("name", String(100), primary_key=True),
    ts("last_attempt_at", nullable=True),
    ts("last_success_at", nullable=True),
    ts("last_error_at", nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("entries_seen", Integer, nullable=False, default=0),
    Column("etag", Text, nullable=True),
    Column("last_modified", Text, nullable=True),
    ts("next_poll_at", nullable=True),
    ts("last_new_entry_at", nullable=True),
    Column("lease_owner", String(100), nullable=True),
    ts("lease_until", nullable=True),
)

feed_entries = Table(
    "feed_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("feed", String(100), nullable=False),
    Column("entry_key", String(500), nullable=False),  # entry id + updated, or file name + hash
    ts("seen_at", nullable=False),
    Column("raw_input_id", ForeignKey("raw_inputs.id"), nullable=True),
    UniqueConstraint("feed", "entry_key", name="uq_feed_entries_feed_entry_key"),
)

# --- drafts and messages ----------------------------------------------------------------------

drafts = Table(
    "drafts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", ForeignKey("alerts.id"), nullable=True),
    Column("campaign_occurrence_id", ForeignKey("campaign_occurrences.id"), nullable=True),
    Column("kind", String(20), nullable=False),  # warning, update, all_clear, correction, campaign
    Column("state", String(20), nullable=False),
    Column("hazard", String(60), nullable=True),
    Column("level", String(10), nullable=True),
    Column("group_key", String(400), nullable=False),  # one group per alert chain
    Column("exercise", Boolean, nullable=False, default=False),
    Column("expedited", Boolean, nullable=False, default=False),
    Column("parent_draft_id", ForeignKey("drafts.id"), nullable=True),  # all-clear / correction of
    Column("created_by", String(100), nullable=False),  # "system" for routed drafts
    Column("last_edited_by", String(100), nullable=True),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    ts("expires_at", nullable=True),
    ts("decided_at", nullable=True),
    Column("decided_by", String(100), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),  # optimistic locking
    # Where in its warning's life the draft is (alerts/chain.py): new, raise, lower, extend, narrow,
    # widen, end, withdraw; None for campaigns and corrections.
    Column("stage", String(20), nullable=True),
    Index("ix_drafts_state", "state"),
    Index("ix_drafts_group_key", "group_key"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("draft_id", ForeignKey("drafts.id"), nullable=False),
    Column("route", String(200), nullable=False),
    Column("template_id", String(200), nullable=False),
    Column("template_hash", String(80), nullable=False),
    Column("template_reviewed", Boolean, nullable=False),
    Column("audience", String(60), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("language", String(20), nullable=False),
    Column("areas", JSON, nullable=False),  # list of area codes
    Column("text", Text, nullable=False),
    Column("edited", Boolean, nullable=False, default=False),
    Column("expert_reviewed_by", String(100), nullable=True),
    # The template's variables as drafted ({"issuer": "高平市气象台", ...}, strings): domestic SMS providers
    # send a registered template code with these, never free text (dsms, issue 15).
    Column("params", JSON, nullable=True),
    # Whom of the audience it reaches (alerts/chain.py): all; chain = those the chain reached before
    # (a change, an all-clear); new = those it has not reached yet (newly inside the area).
    Column("reach", String(10), nullable=False, default="all", server_default="all"),
    Index("ix_messages_draft_id", "draft_id"),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("draft_id", ForeignKey("drafts.id"), nullable=False),
    Column("user_name", String(100), nullable=False),
    Column("role", String(40), nullable=False),
    Column("decision", String(20), nullable=False),  # approve, reject, review
    ts("at", nullable=False),
    Column("note", Text, nullable=False, default=""),
    UniqueConstraint("draft_id", "user_name", "decision", name="uq_approvals_draft_user_decision"),
)

escalations = Table(
    "escalations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("draft_id", ForeignKey("drafts.id"), nullable=False),
    Column("step", Integer, nullable=False),
    ts("at", nullable=False),
    UniqueConstraint("draft_id", "step", name="uq_escalations_draft_step"),
)

# --- recipients -------------------------------------------------------------------------------

residents = Table(
    "residents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("phone", String(20), nullable=False, unique=True),  # E.164
    Column("area", String(12), nullable=False),  # township code
    Column("village", String(100), nullable=True),
    Column("groups", String(300), nullable=False, default=""),  # ";"-separated
    Column("language", String(20), nullable=False, default="zh-CN"),
    ts("consent_at", nullable=True),
    Column("consent_how", String(100), nullable=False, default=""),
    Column("status", String(20), nullable=False, default="active"),  # active, opted_out
    ts("opted_out_at", nullable=True),
    Column("opted_out_how", String(100), nullable=False, default=""),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    Index("ix_residents_area_status", "area", "status"),
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(100), nullable=False, unique=True),  # operator's own id for re-import
    Column("name", String(200), nullable=False),
    Column("kind", String(40), nullable=False),  # school, enterprise, coal_mine, community, village
    Column("area", String(12), nullable=False),
    Column("status", String(20), nullable=False, default="active"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("organisation_id", ForeignKey("organisations.id"), nullable=False),
    Column("name", String(100), nullable=False, default=""),
    Column("channel", String(20), nullable=False),  # sms, email, wecom, dingtalk, feishu, webhook, notice
    Column("address_enc", Text, nullable=False),  # phone / email / webhook URL, encrypted at rest
    Column("address_hint", String(100), nullable=False, default=""),  # masked, for display
    Column("secret_enc", Text, nullable=True),  # webhook signing secret, encrypted
    UniqueConstraint("organisation_id", "channel", "address_hint", name="uq_contacts_org_channel_hint"),
)

# --- dispatch ---------------------------------------------------------------------------------

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", ForeignKey("messages.id"), nullable=False),
    Column("recipient_key", String(120), nullable=False),  # "r:<resident id>", "c:<contact id>", "p:<phone>"
    Column("channel", String(20), nullable=False),
    Column("address", Text, nullable=False),  # E.164 phone, or a contact reference
    Column("priority", Integer, nullable=False),  # larger first
    # queued, in_flight, sent, delivered, failed, expired, withdrawn, suppressed
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("in_doubt", Boolean, nullable=False, default=False),
    ts("next_attempt_at", nullable=False),
    Column("lease_owner", String(100), nullable=True),
    ts("lease_until", nullable=True),
    Column("provider_id", String(100), nullable=True),
    Column("provider_status", String(30), nullable=True),
    Column("error_code", String(40), nullable=True),
    Column("error", Text, nullable=False, default=""),
    ts("expires_at", nullable=True),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    ts("sent_at", nullable=True),
    # When the last provider request started (the worker marks it in flight then): an in-doubt
    # delivery is looked up at the provider from this time on.
    ts("attempted_at", nullable=True),
    # How an in-doubt delivery was settled: found (the provider has it), callback (its status callback
    # had come), not_found (sent again), unknowable (the in-doubt policy decided). NULL: not yet.
    Column("reconciled", String(20), nullable=True),
    UniqueConstraint("message_id", "recipient_key", "channel", name="uq_deliveries_message_recipient_channel"),
    Index("ix_deliveries_claim", "state", "priority", "next_attempt_at"),
    # Only rows with a provider id: a fan-out's new rows have none and so cost no entry here
    # (migration 0009_perf); receipts look up an actual id, which this index serves.
    Index("ix_deliveries_provider_id", "provider_id", postgresql_where=text("provider_id IS NOT NULL"),
          sqlite_where=text("provider_id IS NOT NULL")),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", ForeignKey("deliveries.id"), nullable=False),
    ts("at", nullable=False),
    Column("outcome", String(20), nullable=False),  # ok, retry, permanent, in_doubt
    Column("error_code", String(40), nullable=True),
    Column("detail", Text, nullable=False, default=""),
    Column("latency_ms", Float, nullable=True),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
)

# --- campaigns --------------------------------------------------------------------------------

campaign_occurrences = Table(
    "campaign_occurrences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("campaign", String(100), nullable=False),
    ts("at", nullable=False),
    Column("state", String(20), nullable=False),  # fired, missed, deferred, drafted
    Column("trigger", String(20), nullable=False, default="calendar"),  # calendar, manual
    Column("triggered_by", String(100), nullable=True),
    Column("params", JSON, nullable=False, default=dict),
    ts("recorded_at", nullable=False),
    Column("reason", Text, nullable=False, default=""),  # why deferred or missed, for people
    ts("updated_at", nullable=True),
    UniqueConstraint("campaign", "at", name="uq_campaign_occurrences_campaign_at"),
)

# --- people, access, audit --------------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    Column("password_hash", Text, nullable=False),
    Column("roles", String(300), nullable=False),  # ","-separated role names
    Column("phone", String(20), nullable=True),  # for duty notifications
    Column("disabled", Boolean, nullable=False, default=False),
    Column("must_change_password", Boolean, nullable=False, default=False),
    Column("failed_logins", Integer, nullable=False, default=0),
    ts("locked_until", nullable=True),
    ts("created_at", nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 of the token
    ts("created_at", nullable=False),
    ts("last_used_at", nullable=True),
    Column("revoked", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    ts("created_at", nullable=False),
    ts("last_seen_at", nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    ts("at", nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(200), nullable=False, default=""),
    Column("origin", String(200), nullable=False, default=""),  # IP address, "cli", "scheduler"
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# --- operator problems ----------------------------------------------------------------------------

# Something an operator must see and act on, never only a log line: a warning that reaches nobody,
# a paused channel, a provider failover. One row per key (e.g. "alert:42:no_recipients"); the same
# condition again reopens and counts it rather than adding rows.
problems = Table(
    "problems",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),  # no_route, no_recipients, channel_paused, failover, ...
    Column("severity", String(10), nullable=False),  # critical, warning, info
    Column("subject", String(200), nullable=False, default=""),  # what it is about: "alert:42", "channel:sms"
    Column("what", Text, nullable=False),  # what happened
    Column("why", Text, nullable=False, default=""),  # why
    Column("todo", Text, nullable=False, default=""),  # what to do about it
    Column("count", Integer, nullable=False, default=1),
    ts("opened_at", nullable=False),
    ts("updated_at", nullable=False),
    ts("resolved_at", nullable=True),
    Column("resolved_by", String(100), nullable=True),
    Index("ix_problems_resolved_at", "resolved_at"),
)

# --- SMS in mainland China: provider receipts (dsms, issue 15) ------------------------------------

# One row per delivery report from a domestic SMS provider (push or pull): the failover reads the
# undelivered rate of the last minutes per provider from here, whichever process received them.
sms_receipts = Table(
    "sms_receipts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(20), nullable=False),  # aliyun, tencent
    ts("at", nullable=False),  # when we received it
    Column("delivered", Boolean, nullable=False),
    Column("code", String(60), nullable=False, default=""),  # the carrier's or provider's status code
    Index("ix_sms_receipts_provider_at", "provider", "at"),
)

# --- warning chains (issue 12) -----------------------------------------------------------------

# A combined message (several warnings at once, alerts/combine.py) speaks for several chains: one row
# per chain it covers, so that the chain's later changes and its all-clear reach whom it reached.
message_chains = Table(
    "message_chains",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", ForeignKey("messages.id"), nullable=False),
    Column("group_key", String(400), nullable=False),
    UniqueConstraint("message_id", "group_key", name="uq_message_chains_message_group"),
    Index("ix_message_chains_group_key", "group_key"),
)

# --- security: enrolment links, remembered devices, login throttling, two-person requests, replays --

# One-time links with which a person sets their own password (new account or after a reset).
# Only the hash of the code is kept; a used or expired link opens nothing.
enrolments = Table(
    "enrolments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("purpose", String(20), nullable=False),  # enrol, reset
    Column("created_by", String(100), nullable=False),
    ts("created_at", nullable=False),
    ts("expires_at", nullable=False),
    ts("used_at", nullable=True),
)

# A browser its owner signed in from: it may sign in while wrong passwords slow the account down.
known_devices = Table(
    "known_devices",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the cookie value
    Column("user_id", ForeignKey("users.id"), nullable=False),
    ts("created_at", nullable=False),
    ts("last_used_at", nullable=False),
)

# Wrong passwords per key ("client:<account>|<address>", "account:<account>", "device:<account>|<id>").
login_throttle = Table(
    "login_throttle",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    ts("next_allowed_at", nullable=True),
    ts("updated_at", nullable=False),
)

# Dangerous administration waiting for a second person (the two-person rule).
admin_requests = Table(
    "admin_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),  # grant_roles
    Column("target", String(100), nullable=False),  # the user name it is about
    Column("payload", JSON, nullable=False),
    Column("requested_by", String(100), nullable=False),
    ts("requested_at", nullable=False),
    Column("state", String(20), nullable=False),  # pending, confirmed, refused, cancelled
    Column("decided_by", String(100), nullable=True),
    ts("decided_at", nullable=True),
    Index("ix_admin_requests_state", "state"),
)

# Provider message ids of inbound SMS already acted on: a replayed STOP is answered, not applied twice.
inbound_seen = Table(
    "inbound_seen",
    metadata,
    Column("provider", String(40), primary_key=True),
    Column("message_id", String(100), primary_key=True),
    ts("received_at", nullable=False),
    Index("ix_inbound_seen_received_at", "received_at"),
)

# --- events: the coordination mechanism at work (alerts/events) ----------------------------------

# One event (事件) per emergency: it groups warning chains, drafts, tasks, acknowledgements,
# policy explanations and rumour responses until it is closed.
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("title", String(200), nullable=False),
    Column("hazard", String(60), nullable=True),
    Column("level", String(10), nullable=True),  # the highest level seen in its chains
    Column("areas", JSON, nullable=False),  # township codes
    Column("state", String(20), nullable=False),  # open, closed
    Column("origin", String(20), nullable=False),  # warning, emergency, manual
    ts("opened_at", nullable=False),
    Column("opened_by", String(100), nullable=False),
    ts("closed_at", nullable=True),
    Column("closed_by", String(100), nullable=True),
    Column("close_note", Text, nullable=False, default=""),
    ts("updated_at", nullable=False),
    Index("ix_events_state", "state"),
)

# A warning chain belongs to one event at most (unique), so replicas never open two for one chain.
event_chains = Table(
    "event_chains",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Column("chain_id", BigInteger, nullable=False, unique=True),
    ts("linked_at", nullable=False),
)

# The event's own record of what happened, in order: the timeline's backbone.
event_log = Table(
    "event_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    ts("at", nullable=False),
    Column("actor", String(100), nullable=False),
    Column("kind", String(40), nullable=False),  # opened, linked, task, callout, ack, policy, rumour, closed, ...
    Column("text", Text, nullable=False),  # for people, in Chinese
    Column("ref", String(100), nullable=False, default=""),  # "draft:12", "task:3", "request:7"
    Index("ix_event_log_event_id", "event_id"),
)

event_tasks = Table(
    "event_tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Column("department", String(40), nullable=False),
    Column("task", String(60), nullable=False),
    Column("title", String(200), nullable=False),
    Column("text", Text, nullable=False),
    ts("due_at", nullable=False),
    Column("state", String(20), nullable=False),  # open, acknowledged, done
    ts("created_at", nullable=False),
    ts("done_at", nullable=True),
    Column("done_by", String(100), nullable=True),
    Column("note", Text, nullable=False, default=""),
    UniqueConstraint("event_id", "department", "task", name="uq_event_tasks_event_department_task"),
)

# The roster of responsible persons for 叫应: township heads, village party secretaries, safety
# officers of institutions, township duty offices. Phones are kept like residents' (E.164) so an
# SMS reply can be matched; they are shown masked.
responsible_persons = Table(
    "responsible_persons",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(100), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("role", String(60), nullable=False, default=""),  # 镇长, 村党支部书记, 安全员, 值班室
    Column("level", String(20), nullable=False),  # township, village, institution, duty_office
    Column("area", String(12), nullable=False),  # township code
    Column("unit", String(200), nullable=False, default=""),  # village or institution name
    Column("kind", String(40), nullable=False, default=""),  # institution kind: school, coal_mine, enterprise
    Column("rank", Integer, nullable=False, default=1),  # 1 is asked first
    Column("phone", String(20), nullable=False),
    Column("status", String(20), nullable=False, default="active"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    Index("ix_responsible_persons_phone", "phone"),
    Index("ix_responsible_persons_area", "area"),
)

# What must be acknowledged in an event: a task, or a unit (township, village, institution) under
# 叫应. Escalation moves `step` forward (compare-and-set, so replicas never double a step) until
# someone of the unit acknowledges.
ack_requests = Table(
    "ack_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Column("kind", String(20), nullable=False),  # task, callout, institution
    Column("unit_key", String(300), nullable=False),  # "task:3", "township:140581101", "village:140581101:东周村"
    Column("unit_name", String(200), nullable=False),
    Column("area", String(12), nullable=False, default=""),
    Column("task_id", ForeignKey("event_tasks.id"), nullable=True),
    Column("state", String(20), nullable=False),  # waiting, acknowledged, stopped
    Column("step", Integer, nullable=False, default=-1),  # -1 before the first notice
    ts("next_at", nullable=True),  # when the next step is due; None when no step is left
    ts("created_at", nullable=False),
    ts("ack_at", nullable=True),
    Column("ack_by", String(200), nullable=True),  # the person's name (or the console user)
    Column("ack_person", String(120), nullable=True),  # person key
    Column("ack_via", String(20), nullable=True),  # sms, voice, link, console
    Column("ack_text", String(200), nullable=True),
    UniqueConstraint("event_id", "unit_key", name="uq_ack_requests_event_unit"),
    Index("ix_ack_requests_due", "state", "next_at"),
)

ack_attempts = Table(
    "ack_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("request_id", ForeignKey("ack_requests.id"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("step_kind", String(20), nullable=False),  # first, repeat, next, duty_office
    ts("at", nullable=False),
    Column("person", String(120), nullable=False),  # person key: "p:<key>", "d:<dept>:<contact>", "g:<org key>"
    Column("person_name", String(200), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("address_hint", String(100), nullable=False, default=""),  # masked
    # The number a phone notice went to (E.164, like residents'), so a reply "收到" finds what it answers.
    Column("phone", String(20), nullable=True),
    Column("outcome", String(20), nullable=False),  # sent, failed, unreachable
    Column("detail", Text, nullable=False, default=""),
    Index("ix_ack_attempts_request_id", "request_id"),
    Index("ix_ack_attempts_phone", "phone"),
)

# Rumours recorded during an event, and the drafts (policy explanations, rumour responses) made
# for it from reviewed skeletons.
rumours = Table(
    "rumours",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Column("claim", Text, nullable=False),  # what is being said
    Column("seen_where", String(200), nullable=False),
    ts("seen_at", nullable=False),
    Column("recorded_by", String(100), nullable=False),
    ts("recorded_at", nullable=False),
    Column("state", String(20), nullable=False),  # recorded, responding, dismissed
    Index("ix_rumours_event_id", "event_id"),
)

event_drafts = Table(
    "event_drafts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("events.id"), nullable=False),
    Column("draft_id", ForeignKey("drafts.id"), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),  # policy, rumour_response
    Column("skeleton", String(60), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("department", String(40), nullable=True),
    Column("rumour_id", ForeignKey("rumours.id"), nullable=True),
    ts("created_at", nullable=False),
    Index("ix_event_drafts_event_id", "event_id"),
)

# --- delivery: shared send budgets and pauses (issue 13) -------------------------------------------

# One row per rate-limited key ("sms:+8613...", "sms:MG..." for a sender, "dingtalk:contact:7" for a
# robot, "sms" for a whole channel): a token bucket every worker process takes from in a transaction,
# so N replicas together keep the configured rate; and a pause after an account-level provider fault.
send_budgets = Table(
    "send_budgets",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("stamp", Float, nullable=False),  # wall-clock seconds of the last refill
    ts("paused_until", nullable=True),
    Column("pauses", Integer, nullable=False, default=0),  # consecutive pauses, for the backoff
    Column("pause_code", String(40), nullable=True),  # set while a pause problem is open
    Column("pause_reason", Text, nullable=False, default=""),
)

# A large fan-out continued after its approval committed (alerts/outbox/slices.py): residents with ids
# from next_id to last_id are still to be written; the draft is not finished while its row exists.
fanout_jobs = Table(
    "fanout_jobs",
    metadata,
    Column("draft_id", ForeignKey("drafts.id"), primary_key=True, autoincrement=False),
    Column("group_key", String(400), nullable=False),
    Column("next_id", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("written", Integer, nullable=False, default=0),  # deliveries written so far
    # The approval's hourly warning budget per resident (alerts/chain.py), so every slice applies it alike.
    Column("warning_budget", Integer, nullable=False, default=0, server_default="0"),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    Index("ix_fanout_jobs_group_key", "group_key"),
)

# --- voice: read-out calls and village loudspeakers (issue 17) --------------------------------------

# Residents who are also called (read-out call) for warnings at voice.min_level and above: the elderly
# who do not read SMS, people who asked for calls, village and township responsible persons.
residents.append_column(Column("voice", Boolean, nullable=False, default=False, server_default="0"))

# One broadcast package per (approved draft, township): the loudspeaker script (printable) and, when an
# offline TTS engine is installed, its audio; made in the background, never on the request path.
broadcast_packages = Table(
    "broadcast_packages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("draft_id", ForeignKey("drafts.id"), nullable=False),
    Column("message_id", ForeignKey("messages.id"), nullable=False),  # the spoken version it reads
    Column("area", String(12), nullable=False),
    Column("script", Text, nullable=False),
    # pending → ready (script, and audio where an engine is installed) | failed
    Column("state", String(20), nullable=False, default="pending"),
    Column("audio_path", String(500), nullable=True),  # relative to the service's data directory
    Column("audio_note", Text, nullable=False, default=""),  # why there is no audio, when there is none
    # The township's broadcast controller: posted (HTTP status) or its error; empty without a controller.
    Column("posted", String(20), nullable=False, default=""),
    Column("post_error", Text, nullable=False, default=""),
    ts("created_at", nullable=False),
    ts("updated_at", nullable=False),
    UniqueConstraint("draft_id", "area", name="uq_broadcast_packages_draft_area"),
    Index("ix_broadcast_packages_state", "state"),
)
