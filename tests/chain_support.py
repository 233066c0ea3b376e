"""Test support for warning chains: build a message at any stage, approve what it drafts, read who got what."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from alerts.store import drafts as draft_store
from alerts.store.tables import deliveries, messages
from tests.workflow.support import SAMPLE, World

# The demo residents (config/demo/residents.csv) by where they live.
MISHAN, SANJIA, SHENNONG, BEICHENG, BEISHI, MISHAN_EN = (f"+8613800138{i:03d}" for i in range(6))
TOWNS = {"米山镇": "140581101", "三甲镇": "140581102", "神农镇": "140581103", "北城街道": "140581001",
         "北诗镇": "140581105", "永禄乡": "140581204"}
COLOUR = {"blue": "Blue", "yellow": "Yellow", "orange": "Orange", "red": "Red"}
ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
GRADE = {"blue": "[Ⅳ级/一般]", "yellow": "[Ⅲ级/较重]", "orange": "[Ⅱ级/严重]", "red": "[Ⅰ级/特别严重]"}
HAZARD = {"rainstorm": ("11B03", "暴雨"), "lightning": ("11B14", "雷电"), "geological_hazard": ("11B37", "地质灾害气象风险"),
          "heat": ("11B09", "高温")}
SENDER = "高平市气象台"


def doc(identifier: str, *, level: str = "orange", msg_type: str = "Alert", follows: str = "",
        towns: tuple[str, ...] = ("米山镇", "三甲镇", "神农镇"), headline: str | None = None, hazard: str = "rainstorm",
        sent: str = "2026-07-12 05:30:00+08:00", expires: str = "2026-07-12 17:30:00+08:00",
        sender_name: str = SENDER, instruction: str | None = None, geocodes: tuple[str, ...] | None = None) -> bytes:
    """The constructed Gaoping sample as any message of a chain: `follows` is the identifier it updates."""
    code, name = HAZARD[hazard]
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace("14058141600000_20260712053000", identifier)
    text = text.replace("<sendTime>2026-07-12 05:30:00+08:00</sendTime>", f"<sendTime>{sent}</sendTime>")
    refs = f"\n  <references>{SENDER},{follows},2026-07-12T05:30:00+08:00</references>" if follows else ""
    text = text.replace("<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>{refs}")
    text = text.replace("<severity>Orange</severity>", f"<severity>{COLOUR[level]}</severity>")
    text = text.replace("<eventType>11B03</eventType>", f"<eventType>{code}</eventType>")
    text = text.replace("<expires>2026-07-12 17:30:00+08:00</expires>", f"<expires>{expires}</expires>")
    text = text.replace("<senderName>高平市气象台</senderName>", f"<senderName>{sender_name}</senderName>")
    title = headline or f"高平市气象台发布{name}{ZH[level]}预警信号{GRADE[level]}"
    text = text.replace("<headline>高平市气象台发布暴雨橙色预警[Ⅱ级/严重]</headline>", f"<headline>{title}</headline>")
    text = text.replace("暴雨橙色预警信号", f"{name}{ZH[level]}预警信号")
    if instruction is not None:
        start, end = text.index("<instruction>"), text.index("</instruction>")
        text = text[:start] + f"<instruction>{instruction}" + text[end:]
    codes = geocodes if geocodes is not None else tuple(TOWNS[t] + "000" for t in towns)
    area = (f"<area>\n      <areaDesc>{'、'.join(towns)}</areaDesc>\n"
            + "".join(f"      <geocode>{c}</geocode>\n" for c in codes) + "    </area>")
    start, end = text.index("<area>"), text.index("</area>") + len("</area>")
    return (text[:start] + area + text[end:]).encode("utf-8")


@dataclass
class Sent:
    """What one approval sent: SMS text per phone number, and the draft's stage and messages."""

    draft_id: int
    stage: str | None
    sms: dict[str, str]


async def push(world: World, data: bytes, *, source: str = "push:feed.source") -> Any:
    intake = await world.service.receive(data, source=source)
    assert intake.rejected is None and intake.refused is None, (intake.rejected, intake.refused)
    return intake


async def approve(world: World, draft_id: int, *approvers: str) -> Sent:
    """Approve with one approver (the expedited path) or the named ones; return who got which SMS."""
    for name in approvers or ("wang.approver",):
        await world.service.actions.approve(world.users[name], draft_id, origin="test")
    got = await sent(world, draft_id)
    await drain(world)
    return got


async def drain(world: World) -> None:
    """Send what is queued through the real worker and the log channel, as the outbox loop would."""
    while (await world.service.worker.run_once()).claimed:
        pass


async def sent(world: World, draft_id: int) -> Sent:
    async with world.service.db.read() as conn:
        record = await draft_store.get(conn, draft_id)
        rows = await conn.execute(select(deliveries.c.address, messages.c.text)
                                  .join(messages, messages.c.id == deliveries.c.message_id)
                                  .where(messages.c.draft_id == draft_id, deliveries.c.channel == "sms"))
        sms: dict[str, str] = {}
        for address, text in rows:
            assert address not in sms, f"{address} got two SMS from draft {draft_id}"
            sms[address] = text
    assert record is not None
    return Sent(draft_id, record.row.stage, sms)


async def step(world: World, data: bytes, *approvers: str, source: str = "push:feed.source") -> Sent:
    """One message of the chain from push to the SMS each recipient gets."""
    intake = await push(world, data, source=source)
    assert intake.drafts.created, intake.drafts.problems
    return await approve(world, intake.drafts.created[-1], *approvers)
