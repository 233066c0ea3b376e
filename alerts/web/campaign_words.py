"""Campaign calendar rules in Chinese words, for the console (the CLI keeps `rules.describe`)."""

from __future__ import annotations

import re
from typing import Any

from alerts.settings.campaigns import CronRule, DateRangeRule, FixedDateRule, NthWeekdayRule, WeekOfRule

WEEKDAY_ZH = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}


def _days(weekdays: list[str]) -> str:
    return "、".join(WEEKDAY_ZH.get(d, d) for d in weekdays)


def _cron_part(value: str, unit: str, every: str) -> str:
    """One cron field in words: * → every, 6 → 6月, 6-8 → 6月至8月, 6,7 → 6月、7月, */2 → 每2月."""
    if value == "*":
        return every
    if value.startswith("*/"):
        return f"每{value[2:]}{unit}"
    parts = []
    for piece in value.split(","):
        low, _, high = piece.partition("-")
        parts.append(f"{low}{unit}至{high}{unit}" if high else f"{low}{unit}")
    return "、".join(parts)


def _cron_zh(expression: str) -> str:
    minute, hour, dom, month, dow = expression.split()
    months = _cron_part(month, "月", "每月")
    days = "" if dom == "*" else _cron_part(dom, "日", "")
    if dow != "*":
        names = re.split(r"([,-])", dow.lower())
        days += "每逢" + "".join({",": "、", "-": "至"}.get(n, WEEKDAY_ZH.get(n, n)) for n in names)
    elif dom == "*":
        days = "每天"
    hours = f"{int(hour):02d}:{int(minute):02d}" if hour.isdigit() else f"{_cron_part(hour, '时', '每小时')}{int(minute)}分"
    return f"{months}{days} {hours}"


def describe_zh(rule: Any) -> str:
    """The rule as the person on duty reads it (北京时间)."""
    if rule is None:
        return "不定期，按需手动触发"
    if isinstance(rule, FixedDateRule):
        date = f"{rule.year}年{rule.month}月{rule.day}日" if rule.year else f"每年{rule.month}月{rule.day}日"
        return f"{date} {rule.time}"
    if isinstance(rule, WeekOfRule):
        return f"每年{rule.month}月{rule.day}日所在的那一周（周一至周日），{_days(rule.weekdays)} {rule.time}"
    if isinstance(rule, NthWeekdayRule):
        nth = "最后一个" if rule.n == -1 else f"第{'一二三四五'[rule.n - 1]}个"
        return f"每年{rule.month}月{nth}{WEEKDAY_ZH.get(rule.weekday, rule.weekday)} {rule.time}"
    if isinstance(rule, DateRangeRule):
        cad = rule.cadence
        span = f"每年{rule.start.month}月{rule.start.day}日至{rule.end.month}月{rule.end.day}日"
        if cad.every == "once":
            how = f"开始当天 {cad.time} 一次"
        elif cad.every == "daily":
            how = f"每天 {cad.time}"
        else:
            weeks = "每周" if cad.every_weeks == 1 else f"每{cad.every_weeks}周"
            how = f"{weeks}{_days(cad.weekdays)} {cad.time}"
        return f"{span}，{how}"
    if isinstance(rule, CronRule):
        try:
            return _cron_zh(rule.expression)
        except (ValueError, IndexError):
            return "按定时规则（详见配置文件）"
    return "按配置的规则"


OCCURRENCE_ZH = {"fired": "已触发", "drafted": "已生成消息", "deferred": "暂缓（有未发完的预警）", "missed": "错过",
                 "failed": "未能生成"}


def occurrence_reason_zh(state: str, reason: str) -> str:
    """Why an occurrence is where it is, in one Chinese phrase (the scheduler's own words stay in the log)."""
    if not reason:
        return ""
    if "beyond the grace" in reason:
        return "超过了允许的延迟时间才被发现（服务停机或繁忙），未发送"
    if reason.startswith("waiting for"):
        return "同一地区有未发完的预警，等预警发完再生成"
    if "not drafted within" in reason:
        return "暂缓超过期限，已放弃"
    return "生成失败（模板或配置问题），详见运行日志" if state in ("failed", "missed") else "见运行日志"
