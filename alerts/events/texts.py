"""The words of an event's notices: task notices, 叫应 calls and institutions' requests, from reviewed skeletons."""

from __future__ import annotations

from typing import Any

from alerts.areas import Areas
from alerts.events.departments import due_phrase
from alerts.events.registered import SmsNotice, sms_notice
from alerts.events.skeletons import Skeleton, Skeletons
from alerts.model import LEVEL_ZH, Level

LEVELS_ZH = {lv.value: zh for lv, zh in LEVEL_ZH.items()}


class EventTexts:
    def __init__(self, skeletons: Skeletons, areas: Areas, *, hazard_names: dict[str, str],
                 department_names: dict[str, str], issuer_default: str, issuers: dict[str, str]):
        self.skeletons = skeletons
        self.areas = areas
        self.hazard_names = hazard_names
        self.department_names = department_names
        self.issuer_default = issuer_default
        self.issuers = issuers

    def hazard_zh(self, hazard: str | None) -> str:
        return self.hazard_names.get(hazard or "", hazard or "")

    def event_phrase(self, event: Any) -> str:
        """'暴雨红色预警' for a warning, '地震' for an emergency notice without a level, else the title."""
        if event.hazard and event.level in LEVELS_ZH:
            return f"{self.hazard_zh(event.hazard)}{LEVELS_ZH[event.level]}预警"
        if event.hazard:
            return self.hazard_zh(event.hazard)
        return str(event.title)

    def title(self, hazard: str | None, level: Level | str | None, areas: list[str]) -> str:
        level_value = level.value if isinstance(level, Level) else level
        what = self.hazard_zh(hazard) + (f"{LEVELS_ZH[level_value]}预警" if level_value in LEVELS_ZH else "")
        return f"{what or '突发事件'}（{self.areas.phrase(areas)}）"

    def context(self, event: Any) -> dict[str, str]:
        return {"event": self.event_phrase(event), "areas": self.areas.phrase(list(event.areas or [])),
                "issuer": self.issuers.get(event.hazard or "", self.issuer_default)}

    def task_text(self, task_key: str, department: str, event: Any, due: Any, *, channel: str) -> str:
        sk, values = self._task(task_key, department, event, due)
        return sk.render(channel, values)

    def _task(self, task_key: str, department: str, event: Any, due: Any) -> tuple[Skeleton, dict[str, str]]:
        sk = self.skeletons.usable("task", task_key)
        return sk, {**self.context(event), "department": self.department_names.get(department, department),
                    "due": due_phrase(due)}

    def _request(self, row: Any, event: Any, task: Any) -> tuple[Skeleton, dict[str, str]]:
        """The skeleton of one acknowledgement request and the values it is filled with."""
        if row.kind == "task":
            return self._task(task.task, task.department, event, task.due_at)
        sk = self.skeletons.usable("callout", "callout" if row.kind == "callout" else "institution")
        return sk, {**self.context(event), "unit": str(row.unit_name)}

    def notice(self, row: Any, event: Any, task: Any, *, channel: str, link: str | None = None) -> str:
        """What one acknowledgement request says on a channel ("sms" words also serve voice)."""
        sk, values = self._request(row, event, task)
        text = sk.render(channel if row.kind == "task" else "sms", values)
        if link:
            text += f"\n一键确认收到（无需登录）：{link}"
        return text

    def sms_notice(self, row: Any, event: Any, task: Any) -> SmsNotice:
        """The request as an SMS: its text, and the registered template and values a domestic provider sends."""
        sk, values = self._request(row, event, task)
        return sms_notice(sk, values)
