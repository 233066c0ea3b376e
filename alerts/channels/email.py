"""E-mail over SMTP (aiosmtplib): a plain-text part and an HTML part (the printable notice) per message."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from alerts.channels.base import Ok, Outbound, Outcome, Permanent, Retry
from alerts.channels.notice import AUDIENCE_GREETING, Published, chinese_time, load_published, render_notice
from alerts.channels.webhook import TargetError
from alerts.organisations import ContactBook

log = logging.getLogger("alerts.channels.email")


@dataclass(frozen=True)
class SmtpSettings:
    """From the environment (ALERTS_SMTP_*); the password never appears in a repr."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    security: str = "starttls"  # starttls, tls, none
    timeout_seconds: float = 20.0
    sender_name: str = ""
    subject_prefix: str = ""
    tls_context: ssl.SSLContext | None = None

    def __repr__(self) -> str:
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r})"


def plain_text(p: Published, issuer: str) -> str:
    greeting = AUDIENCE_GREETING.get(p.audience, "")
    lines = [("【演练】" if p.exercise else "") + p.title, ""]
    if greeting:
        lines.append(f"{greeting}：")
    lines += [p.text.strip(), "", issuer, chinese_time(p.issued_at)]
    if p.exercise:
        lines += ["", "本邮件为演练，非真实预警。"]
    return "\n".join(lines) + "\n"


def build_message(p: Published, *, to: str, smtp: SmtpSettings, issuer: str) -> EmailMessage:
    msg = EmailMessage()
    prefix = "【演练】" if p.exercise else ""
    msg["Subject"] = f"{smtp.subject_prefix}{prefix}{p.title}"
    msg["From"] = formataddr((smtp.sender_name, smtp.sender)) if smtp.sender_name else smtp.sender
    msg["To"] = to
    domain = smtp.sender.partition("@")[2] or None
    msg["Message-ID"] = make_msgid(idstring=f"alerts.m{p.message_id}", domain=domain)
    msg.set_content(plain_text(p, issuer))
    msg.add_alternative(render_notice(p, issuer=issuer), subtype="html")
    return msg


class EmailChannel:
    name = "email"

    def __init__(self, contacts: ContactBook, smtp: SmtpSettings, *, issuer: str):
        self.contacts = contacts
        self.smtp = smtp
        self.issuer = issuer

    async def send(self, item: Outbound) -> Outcome:
        try:
            contact = await self.contacts.resolve(item.address)
        except TargetError as exc:
            return Permanent(str(exc), code="bad_contact")
        async with self.contacts.database().read() as conn:
            published = await load_published(conn, item.message_id)
        if published is None:
            return Permanent(f"message {item.message_id} no longer exists", code="no_message")
        message = build_message(published, to=contact.address, smtp=self.smtp, issuer=self.issuer)
        s = self.smtp
        try:
            await aiosmtplib.send(
                message, hostname=s.host, port=s.port, username=s.username or None, password=s.password or None,
                use_tls=s.security == "tls", start_tls=True if s.security == "starttls" else False,
                timeout=s.timeout_seconds, tls_context=s.tls_context)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            return _by_code(min(codes) if codes else 550, f"recipient {contact.hint} refused")
        except aiosmtplib.SMTPResponseException as exc:
            return _by_code(exc.code, f"SMTP server answered {exc.code}: {str(exc.message)[:200]}")
        except aiosmtplib.SMTPTimeoutError:
            return Retry(f"SMTP server {s.host} did not answer within {s.timeout_seconds:.0f} s", code="timeout")
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Retry(f"cannot reach SMTP server {s.host}:{s.port}: {exc.__class__.__name__}", code="network")
        log.info("e-mail for message %s sent to %s (%s)", item.message_id, contact.hint, contact.organisation)
        return Ok(provider_id=str(message["Message-ID"]).strip("<>")[:100], provider_status="sent")

    async def close(self) -> None:
        await self.contacts.close()


def _by_code(code: int, reason: str) -> Outcome:
    """SMTP 4xx is temporary (try later), 5xx permanent (bad address, refused)."""
    if 400 <= code < 500:
        return Retry(reason, code=f"smtp_{code}")
    return Permanent(reason, code=f"smtp_{code}")
