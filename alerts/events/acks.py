"""Acknowledging: an SMS reply or a voice key press from a number, a signed link, or a console entry.

Every provider's reply hands its number and word here through alerts/replies.py; a voice channel
(when there is one) calls `acknowledge_phone(..., via="voice")` for a "press 1".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from alerts.events import requests
from alerts.recipients import mask_phone, normalise_phone
from alerts.store import problems as problem_store

# Replies that acknowledge (after trimming and upper-casing, as replies.keyword does).
ACK_WORDS = {"收到", "1", "已收到", "收到了", "已收到已张贴", "已张贴", "收到已张贴", "OK"}


async def acknowledge_phone(conn: AsyncConnection, *, phone: str, word: str, via: str, at: datetime) -> list[int]:
    """Acknowledge what was sent to this number and is still unanswered in open events; the request ids.
    Empty when the word is no acknowledgement or nothing was waiting (the reply is then something else)."""
    if via == "sms" and word not in ACK_WORDS:
        return []
    number = normalise_phone(phone) or phone
    done: list[int] = []
    for row in await requests.waiting_for(conn, number):
        who = row.attempt_name or mask_phone(number)
        if await requests.acknowledge(conn, int(row.id), requests.Answer(who, row.attempt_person, via, word), at=at):
            await resolve_silence(conn, int(row.event_id), int(row.id), at=at)
            done.append(int(row.id))
    return done


async def acknowledge_request(conn: AsyncConnection, request_id: int, answer: requests.Answer, *, at: datetime) -> bool:
    """A link click or a console entry for one request."""
    row = await requests.get(conn, request_id)
    if row is None or not await requests.acknowledge(conn, request_id, answer, at=at):
        return False
    await resolve_silence(conn, int(row.event_id), request_id, at=at)
    return True


async def resolve_silence(conn: AsyncConnection, event_id: int, request_id: int, *, at: datetime) -> None:
    await problem_store.resolve(conn, f"event:{event_id}:silent:{request_id}", at=at)
