"""Numbers, times and area phrases as a Chinese voice reads them: 二十八日下午两点十分."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Shanghai")
DIGIT_WORDS = "零一二三四五六七八九"
_DIGIT_RUN = re.compile(r"[0-9]+")


def number_words(n: int, *, counting: bool = False) -> str:
    """0..99 as words (二十八); `counting` says 两 for a lone 2 before a measure word (两个乡镇).

    Larger numbers are read digit by digit, as Chinese reads codes and house numbers."""
    if n < 0:
        raise ValueError(f"number_words: {n} is negative; times and counts are never negative")
    if n == 2 and counting:
        return "两"
    if n < 10:
        return DIGIT_WORDS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        # 十五, not 一十五: spoken Chinese drops the leading 一 below twenty.
        return ("" if tens == 1 else DIGIT_WORDS[tens]) + "十" + (DIGIT_WORDS[ones] if ones else "")
    return "".join(DIGIT_WORDS[int(d)] for d in str(n))


def day_period(hour: int) -> str:
    """The part of the day a listener expects before a twelve-hour clock time."""
    if hour < 6:
        return "凌晨"
    if hour < 9:
        return "早上"
    if hour < 12:
        return "上午"
    if hour == 12:
        return "中午"
    if hour < 18:
        return "下午"
    return "晚上"


def clock_words(hour: int, minute: int) -> str:
    """下午两点十分, 凌晨五点半, 中午十二点, 凌晨零点零五分."""
    twelve = hour if hour <= 12 else hour - 12
    # 两点, never 二点: the hour is a count; 零点 for midnight.
    hour_words = "两" if twelve == 2 else number_words(twelve)
    if minute == 0:
        minutes = ""
    elif minute == 30:
        minutes = "半"
    elif minute < 10:
        minutes = f"零{DIGIT_WORDS[minute]}分"  # 两点零五分: the 零 keeps it from sounding like 五十分
    else:
        minutes = f"{number_words(minute)}分"
    return f"{day_period(hour)}{hour_words}点{minutes}"


def _local(moment: datetime) -> datetime:
    return moment.astimezone(TZ) if moment.tzinfo else moment.replace(tzinfo=TZ)


def day_time_spoken(moment: datetime | None) -> str:
    """Day of month and local time as spoken: 二十八日下午两点十分 (Asia/Shanghai); '' when unknown."""
    if moment is None:
        return ""
    local = _local(moment)
    return f"{number_words(local.day)}日{clock_words(local.hour, local.minute)}"


def in_force_spoken(expires: datetime | None) -> str:
    """How long a warning is in force, as a voice says it: 有效到二十九日下午两点, or 解除时另行通知."""
    return f"有效到{day_time_spoken(expires)}" if expires is not None else "解除时另行通知"


def area_spoken(phrase: str) -> str:
    """An SMS area phrase with its numbers in words: 北城街道等九个乡镇, 高平市两个乡镇."""
    return _DIGIT_RUN.sub(lambda m: number_words(int(m.group()), counting=True), phrase)
