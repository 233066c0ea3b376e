"""Printable bulletin-board notices (社区科普宣传栏): one A4 HTML page per approved message.

Also the read model every outward format shares (notice, e-mail, CAP, Atom): a message with
its draft and source alert, and the title, issuer and time people see.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.channels.base import Ok, Outbound, Outcome, Permanent, Retry
from alerts.clock import SHANGHAI
from alerts.model import LEVEL_ZH, Alert, Level
from alerts.store.engine import Database
from alerts.store.tables import alerts, drafts, messages

log = logging.getLogger("alerts.channels.notice")

# Draft states in which a message has been approved for the public.
APPROVED_STATES = ("dispatching", "sent", "partly_failed")
AUDIENCE_GREETING = {"schools": "各学校、幼儿园", "enterprises": "各企业、煤矿", "villages": "各村（社区）",
                     "communities": "各社区", "residents": "广大居民朋友", "elderly": "各位老年朋友",
                     "families": "各位家长、家人们", "volunteers": "各科技志愿服务队", "media": "各媒体"}
_TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined)


def hazard_name(key: str | None) -> str:
    if not key:
        return ""
    from alerts.content.hazards import default_hazards

    hazard = default_hazards().get(key)
    return hazard.zh if hazard else key


@dataclass(frozen=True)
class Published:
    """One message with what every outward format needs to know about it."""

    message_id: int
    draft_id: int
    text: str
    audience: str
    channel: str
    language: str
    areas: list[str]
    kind: str
    state: str
    hazard: str | None
    level: str | None
    exercise: bool
    decided_at: datetime | None
    created_at: datetime
    expires_at: datetime | None
    alert: Alert | None  # the source alert, None for campaigns
    alert_scope: str | None
    stage: str | None = None  # the chain stage of its draft (alerts/chain.py), None for campaigns

    @property
    def approved(self) -> bool:
        return self.state in APPROVED_STATES

    @property
    def issued_at(self) -> datetime:
        return self.decided_at or self.created_at

    @property
    def public(self) -> bool:
        return not self.exercise and (self.alert is None or self.alert.scope == "Public")

    @property
    def title(self) -> str:
        hazard = hazard_name(self.hazard)
        level = LEVEL_ZH[Level(self.level)] if self.level else ""
        if self.kind == "all_clear" and self.stage == "withdraw":
            return f"{hazard}{level}预警撤回（误发）" if hazard else "预警撤回（误发）"
        if self.kind == "all_clear":
            return f"{hazard}预警解除后的安全提示" if hazard else "预警解除后的安全提示"
        changed = {"raise": "预警升级", "lower": "预警降级", "extend": "预警继续", "narrow": "预警范围缩小",
                   "widen": "预警范围扩大"}.get(self.stage or "")
        if self.kind == "update" and changed and hazard:
            return f"{hazard}{changed}为{level} · 防御提示" if self.stage in ("raise", "lower") else \
                f"{hazard}{level}{changed} · 防御提示"
        if self.kind == "campaign":
            return f"{hazard}应急科普" if hazard else "应急科普宣传"
        if self.kind in ("policy", "rumour_response"):  # marked as such in the feeds (alerts/events)
            return "政策解读" if self.kind == "policy" else "辟谣 · 舆情回应"
        suffix = {"update": "预警更新 · 防御提示", "correction": "预警 · 更正提示"}.get(self.kind, "预警 · 防御科普提示")
        return f"{hazard}{level}{suffix}" if hazard else "应急科普提示"

    @property
    def source(self) -> str:
        """Who issued the warning this message points to."""
        if self.alert is None:
            return ""
        info = self.alert.primary_info()
        return (info.sender_name if info and info.sender_name else "") or self.alert.sender


_COLUMNS = (messages.c.id, messages.c.draft_id, messages.c.text, messages.c.audience, messages.c.channel,
            messages.c.language, messages.c.areas, drafts.c.kind, drafts.c.state, drafts.c.hazard, drafts.c.level,
            drafts.c.exercise, drafts.c.decided_at, drafts.c.created_at, drafts.c.expires_at,
            alerts.c.data.label("alert_data"), alerts.c.scope.label("alert_scope"), drafts.c.stage)


def _published(row: Any) -> Published:
    alert = Alert.model_validate(row.alert_data) if row.alert_data else None
    return Published(message_id=int(row.id), draft_id=int(row.draft_id), text=row.text, audience=row.audience,
                     channel=row.channel, language=row.language, areas=list(row.areas or []), kind=row.kind,
                     state=row.state, hazard=row.hazard, level=row.level, exercise=bool(row.exercise),
                     decided_at=row.decided_at, created_at=row.created_at, expires_at=row.expires_at, alert=alert,
                     alert_scope=row.alert_scope, stage=row.stage)


def _joined() -> Any:
    return select(*_COLUMNS).select_from(
        messages.join(drafts, drafts.c.id == messages.c.draft_id).outerjoin(alerts, alerts.c.id == drafts.c.alert_id))


async def load_published(conn: AsyncConnection, message_id: int) -> Published | None:
    """The message whatever its state; callers decide what an unapproved one may show."""
    row = (await conn.execute(_joined().where(messages.c.id == message_id))).first()
    return _published(row) if row else None


async def list_public(conn: AsyncConnection, *, audiences: list[str], kinds: list[str], limit: int,
                      languages: list[str] | None = None) -> list[Published]:
    """Newest first: approved, non-exercise messages to public audiences, of public alerts (or campaigns)."""
    q = (_joined()
         .where(and_(drafts.c.state.in_(APPROVED_STATES), drafts.c.exercise.is_(False),
                     messages.c.audience.in_(audiences), drafts.c.kind.in_(kinds),
                     messages.c.language.in_(languages or ["zh-CN"]),
                     # A spoken version says the same as its written text, for the ear: not published twice.
                     messages.c.channel != "voice",
                     (alerts.c.id.is_(None)) | (alerts.c.scope == "Public")))
         .order_by(drafts.c.decided_at.desc(), messages.c.id.desc())
         .limit(limit))
    return [_published(r) for r in await conn.execute(q)]


# --- rendering --------------------------------------------------------------------------------

def chinese_time(dt: datetime | None) -> str:
    if dt is None:
        return ""
    t = dt.astimezone(SHANGHAI)
    return f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}"


def render_notice(p: Published, *, issuer: str, nonce: str | None = None, preview: bool = False) -> str:
    """The A4 page: title, greeting, the approved text, issuer and time, 演练 for exercises."""
    paragraphs = [para.strip() for para in p.text.split("\n") if para.strip()]
    return _env.get_template("notice.html").render(
        title=p.title, greeting=AUDIENCE_GREETING.get(p.audience, ""), paragraphs=paragraphs, issuer=issuer,
        issued=chinese_time(p.issued_at), source=p.source, exercise=p.exercise, level=p.level or "",
        number=f"{p.issued_at.astimezone(SHANGHAI):%Y%m%d}-{p.message_id:04d}", expires=chinese_time(p.expires_at),
        nonce=nonce or secrets.token_urlsafe(12), preview=preview)


class NoticeChannel:
    """Produces the printable page for a notice contact (a board's keeper prints and pins it).

    The page is written once per message under var/notices/ and is also served at /notices/{id};
    the delivery records that it is ready for that board.
    """

    name = "notice"

    def __init__(self, db: Database | str, directory: Path, *, issuer: str):
        # A URL opens a database of its own on first use (channels are built before the service's).
        self._db = db if isinstance(db, Database) else None
        self._url = db if isinstance(db, str) else None
        self.directory = directory
        self.issuer = issuer

    def _database(self) -> Database:
        if self._db is None:
            assert self._url
            self._db = Database(self._url)
        return self._db

    async def send(self, item: Outbound) -> Outcome:
        async with self._database().read() as conn:
            published = await load_published(conn, item.message_id)
        if published is None:
            return Permanent(f"message {item.message_id} no longer exists", code="no_message")
        path = self.directory / f"message-{item.message_id}.html"
        try:
            if not path.exists():
                self.directory.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(render_notice(published, issuer=self.issuer), encoding="utf-8")
                tmp.replace(path)  # atomic: a reader never sees half a page
        except OSError as exc:
            return Retry(f"cannot write the notice page: {exc.strerror or exc.__class__.__name__}", code="disk")
        log.info("notice for message %s ready for %s: %s", item.message_id, item.address, path.name)
        return Ok(provider_id=f"notice-{item.message_id}", provider_status="ready")

    async def close(self) -> None:
        if self._url is not None and self._db is not None:
            await self._db.close()
            self._db = None


# --- wiring: the channels of this issue, for alerts.channels.registry --------------------------

def build_notice_channels(settings: Any, secrets: Any) -> dict[str, Any]:
    """IM robots, e-mail (a log channel until SMTP is configured) and printable notices.

    Delivery channel names are the contact channels fan-out writes: wecom, dingtalk, feishu,
    webhook, email, notice. Raises ConfigError at start-up when stored contacts cannot be read.
    """
    from alerts.channels.email import EmailChannel, SmtpSettings
    from alerts.channels.log import LogChannel
    from alerts.channels.webhook import KINDS, WebhookChannel
    from alerts.crypto import EncryptionKeyError, cipher_from
    from alerts.organisations import ContactBook
    from alerts.settings import ConfigError
    from alerts.settings.notices import notices_config

    config = notices_config(settings)
    try:
        cipher = cipher_from(secrets)
    except EncryptionKeyError as exc:
        raise ConfigError([str(exc)]) from None
    _check_key_at_start(settings.database_url, secrets)
    issuer = config.notice.issuer or settings.service.name
    channels: dict[str, Any] = {}
    book = ContactBook(settings.database_url, cipher)
    for kind in KINDS:
        channels[kind] = WebhookChannel(kind, book.robot, timeout_seconds=config.webhooks.timeout_seconds,
                                        max_response_bytes=config.webhooks.max_response_bytes,
                                        allow_http_hosts=config.webhooks.allow_http_hosts)
    if secrets.smtp_host and secrets.smtp_from:
        port = secrets.smtp_port or {"tls": 465, "none": 25}.get(config.email.security, 587)
        smtp = SmtpSettings(host=secrets.smtp_host, port=port, sender=secrets.smtp_from,
                            username=secrets.smtp_username, password=secrets.smtp_password,
                            security=config.email.security, timeout_seconds=config.email.timeout_seconds,
                            sender_name=settings.service.name, subject_prefix=config.email.subject_prefix)
        channels["email"] = EmailChannel(ContactBook(settings.database_url, cipher), smtp, issuer=issuer)
    else:
        if secrets.smtp_host:
            log.warning("ALERTS_SMTP_HOST is set but ALERTS_SMTP_FROM is not: e-mail goes to the log channel")
        channels["email"] = LogChannel(settings.path(settings.channels.log_file), name="email")
    channels["notice"] = NoticeChannel(settings.database_url, settings.var_dir / config.notice.directory,
                                       issuer=issuer)
    return channels


def _check_key_at_start(database_url: str, secrets: Any) -> None:
    """Run the async key check from synchronous start-up code, also inside a running event loop."""
    import asyncio
    import concurrent.futures

    from alerts.crypto import check_key_for_contacts

    async def check() -> None:
        db = Database(database_url)
        try:
            await check_key_for_contacts(db, secrets)
        finally:
            await db.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, check()).result()
