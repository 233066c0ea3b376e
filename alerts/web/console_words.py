"""Words of the Chinese console that the code keeps in English: audit actions, origins, targets, dates.

The codes stay in the database and the API; the console says them in Chinese. An action without a
wording here is shown as a general phrase, never as its code.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

ACTION_ZH = {
    "campaign.missed": "宣传活动错过了计划时间", "campaign.triggered": "宣传活动已启动",
    "deliveries.withdrawn": "未发出的消息已停止", "draft.approval": "批准（还需另一位审批人）",
    "draft.approved": "已批准发送", "draft.auto_released": "超时自动放行", "draft.combined": "合并为一条消息",
    "draft.correction_started": "开始更正", "draft.created": "生成消息草稿", "draft.escalated": "提醒值班审批人",
    "draft.expired": "预警失效，草稿作废", "draft.fanout_done": "接收名单已全部生成", "draft.rejected": "已驳回",
    "draft.reviewed": "专家审核通过", "draft.signed_off": "宣传部已签发", "draft.superseded": "被新的消息替代",
    "draft.withdrawn": "已停止发送", "draft.sent": "发送完成", "draft.partly_failed": "发送完成，部分失败",
    "draft.policy_created": "起草政策解读", "draft.rumour_response_created": "起草辟谣回应",
    "event.acknowledged": "记录叫应回复", "event.closed": "事件关闭", "event.opened": "事件开启",
    "event.rumour_recorded": "记录网传信息", "event.task_done": "任务完成", "message.edited": "修改消息内容",
    "organisations.import": "导入单位名录", "outbox.in_doubt": "发送状态存疑，已核对", "people.import": "导入叫应名册",
    "recipient.forgotten": "删除接收人信息", "recipient.opted_in": "接收人重新订阅", "recipient.opted_out": "接收人退订",
    "retention.pruned": "按保存期限清理旧数据", "token.created": "创建接口令牌", "token.revoked": "吊销接口令牌",
    "user.added": "添加用户", "user.credentials_reset": "重置登录凭据", "user.disabled": "停用用户",
    "user.enabled": "启用用户", "user.enrolled": "用户完成注册", "user.enrolment_link": "生成注册链接",
    "user.password_changed": "修改密码", "user.roles": "修改角色", "user.roles_confirmed": "确认角色变更",
    "user.roles_refused": "拒绝角色变更", "user.roles_requested": "申请角色变更",
    "user.signed_out_everywhere": "在所有设备上退出", "lookup.phone": "按号码查询发送记录",
    "report.exported": "导出投递报告",
}
_GROUP_ZH = {"campaign": "宣传活动", "draft": "消息", "event": "事件", "user": "用户", "token": "接口令牌",
             "recipient": "接收人", "message": "消息", "outbox": "发送队列", "deliveries": "发送"}
TARGET_ZH = {"draft": "消息", "campaign": "宣传活动", "event": "事件", "user": "用户", "token": "令牌",
             "recipient": "接收人", "message": "消息", "alert": "预警", "problem": "问题", "phone": "号码"}
ORIGIN_ZH = {"console": "控制台", "api": "接口", "cli": "命令行", "system": "系统", "scheduler": "定时任务",
             "sms": "短信", "link": "链接", "test": "测试"}


def action_zh(action: str) -> str:
    if action in ACTION_ZH:
        return ACTION_ZH[action]
    group = action.split(".", 1)[0]
    return f"{_GROUP_ZH.get(group, '系统')}记录"


def target_zh(target: str) -> str:
    """draft:12 → 消息 #12; an unknown kind keeps its value (an id), not its English kind."""
    kind, _, value = target.partition(":")
    if not value:
        return target
    return f"{TARGET_ZH.get(kind, '对象')} {'#' + value if value.isdigit() else value}"


def origin_zh(origin: str) -> str:
    kind, _, rest = origin.partition(":")
    name = ORIGIN_ZH.get(kind)
    if name is None:
        return "其他"
    return f"{name} {rest}".strip()


def when(dt: datetime | None, now: datetime | None = None) -> str:
    """A time as the console shows it: 11月28日 14:10 (with the year when it is not this year)."""
    if dt is None:
        return ""
    shown = dt.astimezone(SHANGHAI)
    this_year = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI).year
    head = f"{shown.year}年" if shown.year != this_year else ""
    return f"{head}{shown.month}月{shown.day}日 {shown:%H:%M}"


def actor_zh(actor: str) -> str:
    """Who did it: a person's login name as it is (an id), the service itself as 系统."""
    return {"system": "系统", "scheduler": "定时任务"}.get(actor, actor)
