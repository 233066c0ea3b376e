"""What the Chinese national-platform profile (GB/T 35965.1 style) adds to CAP: words, times, channels."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta, timezone

from lxml import etree

from alerts.feeds.safexml import element_text

FORMAT = "gbt35965"

# The profile writes local Beijing time; a time without an offset can only mean that.
CHINA_TIME = timezone(timedelta(hours=8), "CST")

# The value names the parsed alert carries for the profile's own codes, so that downstream
# code (hazard tables, routes) sees them exactly like CAP eventCode pairs.
EVENT_TYPE_NAME = "GB/T 35965.1 eventType"

# Chinese words seen for msgType and status in national-platform documents (首次/更新/解除 per
# DOMAIN.md §3; the status words are *unverified*): mapped onto the CAP vocabulary.
MSG_TYPE_WORDS = {"首次": "Alert", "发布": "Alert", "更新": "Update", "解除": "Cancel"}
STATUS_WORDS = {"实际": "Actual", "正式": "Actual", "演练": "Exercise", "演习": "Exercise", "测试": "Test", "系统": "System"}


def read_method_block(
    code: etree._Element, local: Callable[[etree._Element], str | None]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Per-channel texts and audience groups of a `code/method` block.

    Returns ({channel: text}, [parameter pairs]); the audience groups become parameters named
    "method:CHANNEL:audienceGrp", because they say who a channel text is for, not who the
    warning is for.
    """
    texts: dict[str, str] = {}
    audiences: list[dict[str, str]] = []
    for method in code:
        if local(method) != "method":
            continue
        channel = ""
        message = ""
        groups: list[str] = []
        for part in method:
            name = local(part)
            if name == "methodName":
                channel = element_text(part)
            elif name == "message":
                message = element_text(part)
            elif name == "audienceGrp":
                group = element_text(part)
                if group:
                    groups.append(group)
        channel = channel.upper() or "UNNAMED"
        if message:
            # Two blocks for one channel (e.g. two SMS audiences) keep both texts.
            texts[channel] = f"{texts[channel]}\n{message}" if channel in texts else message
        audiences.extend({"name": f"method:{channel}:audienceGrp", "value": g} for g in groups)
    return texts, audiences
