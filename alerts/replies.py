"""Replies from phones, whichever provider carried them: opt-out, opt-in, help, acknowledgement.

Every inbound channel (Twilio's signed webhook, a domestic provider's reply push or pull) hands the
sender's number and the text here, so a reply means the same whoever delivered it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.events.acks import acknowledge_phone
from alerts.recipients import mask_phone, normalise_phone, opt_in, opt_out
from alerts.store import inbound

log = logging.getLogger("alerts.replies")

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD", "取消订阅"}
START_WORDS = {"START", "UNSTOP", "YES", "订阅"}
HELP_WORDS = {"HELP", "INFO", "帮助"}


@dataclass(frozen=True)
class Reply:
    """What a reply meant: `kind` (opt_out, opt_in, help, acknowledged, ignored, replay) and the text to answer with, if any."""

    kind: str
    answer: str | None = None


def keyword(body: str) -> str:
    """The reply as a keyword: trimmed, upper-cased, without trailing full stops or exclamation marks."""
    return body.strip().upper().rstrip("。.!！")


async def handle_reply(conn: AsyncConnection, *, phone: str, body: str, provider: str, at: datetime,
                       service_name: str, message_id: str | None = None) -> Reply:
    """Act on one reply inside the caller's write transaction; the answer is for providers that can
    answer in the same exchange (Twilio's TwiML), others may send it or not. A reply "收到" or "1"
    acknowledges event tasks and 叫应 sent to that number (alerts/events/acks.py).

    `message_id` is the provider's id of the inbound message (Twilio MessageSid): a message seen
    before is a replay (or the provider's retry) and changes nothing, so an old STOP cannot undo
    a later START.
    """
    number = normalise_phone(phone) or phone
    if message_id and not await inbound.first_time(conn, provider, message_id, at=at):
        log.warning("reply %s via %s from %s seen before: a replay, ignored", message_id[:40], provider,
                    mask_phone(number))
        return Reply("replay")
    word = keyword(body)
    actor = f"sms:{mask_phone(number)}"
    # An acknowledgement (收到, 1) of a department task or a 叫应 sent to this number, in an open event.
    acknowledged = await acknowledge_phone(conn, phone=number, word=word, via="sms", at=at)
    if acknowledged:
        log.info("reply from %s via %s acknowledged %d request(s)", mask_phone(number), provider, len(acknowledged))
        return Reply("acknowledged", f"{service_name}：已确认您收到，谢谢。请按预案落实防御措施。")
    if word in STOP_WORDS:
        await opt_out(conn, phone=number, how=f"sms:{word}", at=at, actor=actor, origin=provider)
        log.info("reply %s from %s via %s: opted out", word, mask_phone(number), provider)
        return Reply("opt_out", f"{service_name}：您已退订，将不再收到本服务的短信。回复“订阅”可恢复。")
    if word in START_WORDS:
        known = await opt_in(conn, phone=number, how=f"sms:{word}", at=at, actor=actor, origin=provider)
        log.info("reply %s from %s via %s: opted in (changed: %s)", word, mask_phone(number), provider, known)
        return Reply("opt_in", f"{service_name}：您已恢复订阅应急科普与预警提示短信。回复“退订”可停止。")
    if word in HELP_WORDS:
        return Reply("help", f"{service_name}：由高平市科协与应急管理部门提供的应急科普与预警提示短信服务。"
                              "回复“退订”或 TD 停止接收，回复“订阅”恢复接收。")
    log.info("reply from %s via %s ignored (not a keyword)", mask_phone(number), provider)
    return Reply("ignored")
