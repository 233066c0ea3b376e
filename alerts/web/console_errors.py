"""Refusals of the workflow, as the Chinese console says them.

The workflow raises English messages for the API and the log; the person on duty reads Chinese.
Known refusals are matched by their wording; anything else gets a plain Chinese sentence naming
the status, and the English detail goes only to the log.
"""

from __future__ import annotations

import logging
import re

from alerts.workflow.policy import Refused
from alerts.workflow.states import TransitionError

log = logging.getLogger("alerts.console")

_STATE_ZH = {"pending": "待审批", "approved": "已批准", "dispatching": "发送中", "sent": "已发送",
             "partly_failed": "部分失败", "rejected": "已驳回", "expired": "已过期", "superseded": "已被替代",
             "withdrawn": "已撤回", "changed": "已被修改"}
_WANTED_ZH = {"approved": "批准", "rejected": "驳回", "pending (edited)": "修改", "pending (reviewed)": "审核",
              "withdrawn": "停止发送", "pending (signed off)": "签发"}

# (pattern of the English refusal, the Chinese sentence; groups may be used as \1 ...)
_REFUSALS: list[tuple[re.Pattern[str], str]] = [(re.compile(p), zh) for p, zh in [
    (r"^citywide red: confirm sending to (.+)$", r"红色预警将发往全市，请先勾选「\1」确认后再批准。"),
    (r"has already approved draft", "您已经批准过这条消息，还需要另一位审批人批准。"),
    (r"^four eyes: .* created or last edited", "双人原则：这条消息由您生成或最后修改，须由另一位审批人批准。"),
    (r"^four eyes: .* pushed the alert", "双人原则：这条预警由您推送，须由另一位审批人批准。"),
    (r"^four eyes: .* reviewed the edited text", "双人原则：您以专家身份审核过修改的内容，须由另一人批准。"),
    (r"^four eyes: .* edited draft .* cannot also review", "双人原则：您修改了这条消息，不能再由您审核。"),
    (r"an expert must review it before approval", "内容经过修改或模板未审核，须先经专家审核才能批准。"),
    (r"rumour response: 宣传部 must sign it off", "辟谣回应须先经宣传部签发才能批准。"),
    (r"nothing to review", "这条消息只使用未改动的已审模板，无需专家审核。"),
    (r"are already reviewed", "修改的内容已经审核过。"),
    (r"^a rejection needs a reason", "驳回须填写理由（将记录在案）。"),
    (r"^a withdrawal needs a reason", "停止发送须填写理由（将记录在案）。"),
    (r"^a correction needs a reason", "更正须说明哪里有误（将记录在案）。"),
    (r"^the new text is empty", "修改后的内容为空。"),
    (r"^the new text is the same", "修改后的内容与原文相同，无需保存。"),
    (r"^the SMS text is not acceptable", "修改后的短信内容不符合发送要求（长度、签名或网址等），请检查后重试。"),
    (r"no registered .* code", "短信模板尚未在短信服务商处备案，不能发送。请联系管理员备案后再批准。"),
    (r"cannot go out through", "修改后的短信超出了备案模板的变量范围，不能发送。请改回备案的格式。"),
    (r"cannot be sent as it is", "短信内容与备案模板不一致，不能发送。请改回备案的格式。"),
    (r"^event \d+ is already closed", "事件已经关闭。"),
    (r"is closed: nothing more is drafted", "事件已经关闭，不能再起草。"),
    (r"^request \d+ is already acknowledged", "已经登记过确认收到。"),
    (r"^task \d+ is already done", "这项任务已经完成。"),
    (r"is already signed off", "已经审签过。"),
    (r"needs the expert's review first", "须先经专家审核，再由宣传部审签。"),
    (r"only rumour responses are signed off", "只有辟谣回应需要宣传部审签。"),
    (r"^four eyes: .* wrote or last edited draft", "双人原则：这条消息由您起草或最后修改，须由他人审签。"),
    (r"^seen_at is in the future", "看到的时间不能晚于现在。"),
    (r"^choose at least one audience and channel", "请至少选择一个发送对象和渠道。"),
    (r"is not deliverable: choose from", "所选的发送对象或渠道不可用，请重新选择。"),
    (r"does not act for", "您不属于该部门，不能代其起草。"),
    (r"^(\w+) is empty$", r"「\1」一栏不能为空。"),
    (r"^(\w+) has (\d+) characters; at most (\d+)", r"「\1」一栏有 \2 个字，最多 \3 个字。"),
    (r"retype it as plain text", "填写的内容含有不允许的字符（如网址、控制字符），请改为纯文字。"),
    (r"^the password is too short: use at least (\d+)", r"密码太短：至少 \1 个字符。"),
    (r"^the password is too long", "密码太长：最多 1024 个字符。"),
    (r"^the password must not contain the user name", "密码中不能包含用户名。"),
    (r"may not complete a task of", "这项任务属于其他部门，只有该部门的成员才能标记完成。"),
    (r"may not record this acknowledgement", "您不能登记这项确认：需要事件协调角色，或是该单位的责任人。"),
    (r"may not ", "您的角色不能执行这项操作。"),
]]


def refusal_zh(exc: Exception) -> str:
    """One Chinese sentence for a refused console action."""
    if isinstance(exc, TransitionError):
        now = _STATE_ZH.get(exc.current, "其他状态")
        wanted = _WANTED_ZH.get(exc.wanted, "这项操作")
        return f"这条消息现在是「{now}」，不能再{wanted}。页面已显示最新状态。"
    text = str(exc)
    for pattern, zh in _REFUSALS:
        found = pattern.search(text)
        if found:
            return found.expand(zh)
    status = exc.status if isinstance(exc, Refused) else 400
    log.info("console refusal without a Chinese wording (status %s): %s", status, text)
    return "系统拒绝了这项操作，原因已记入运行日志。请联系管理员。"
