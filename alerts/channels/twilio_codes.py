"""What each Twilio error code means for the outbox: pause the account or the sender, end the
delivery, or try it again. One table, used for API answers and for status callbacks alike.

Sources: Twilio's error dictionary (twilio.com/docs/api/errors) for each code below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Meaning:
    action: str  # pause_channel, pause_sender, permanent, retry
    reason: str  # English, for the ledger and logs
    problem: str = ""  # Chinese, for the operator problem of a pause
    todo: str = ""
    # Seconds to pause when the answer names no Retry-After; 0: the worker's growing backoff.
    pause_seconds: float = 0.0
    severity: str = "warning"


# Account-level faults: no single delivery is at fault, so none spends an attempt.
ACCOUNT = {
    20003: Meaning("pause_channel", "authentication failed", "Twilio 拒绝了本服务的账户凭据，短信暂停发送",
                   "核对环境变量 TWILIO_ACCOUNT_SID 和 TWILIO_AUTH_TOKEN，更正后服务会自动恢复发送",
                   pause_seconds=60.0, severity="critical"),
    20429: Meaning("pause_channel", "too many concurrent requests", "Twilio 提示并发请求过多，短信暂缓片刻",
                   "通常会自动恢复；若反复出现，请调低 channels.yaml 中的 sms.concurrency"),
    21611: Meaning("pause_sender", "this sender's queue is full", "某个发送号码在 Twilio 的排队已满，该号码暂停发送",
                   "等待 Twilio 队列消化；若持续，请在 channels.yaml 中降低 sms.messages_per_second 或增加号码"),
    14107: Meaning("pause_sender", "sender rate limit exceeded", "某个发送号码超过了 Twilio 的发送速率，该号码暂停发送",
                   "核对 channels.yaml 中 sms.messages_per_second 是否高于该号码在 Twilio 的允许速率"),
    30001: Meaning("pause_sender", "queue overflow", "Twilio 队列溢出，短信暂停发送",
                   "降低 channels.yaml 中 sms.messages_per_second，或为发送号码申请更高速率"),
    30002: Meaning("pause_channel", "account suspended", "Twilio 账户已被暂停，短信无法发送",
                   "立即联系 Twilio 处理账户状态；同时考虑启用其他短信通道", pause_seconds=300.0,
                   severity="critical"),
}

# One number's faults: the delivery ends, or is tried again later, as each code means.
PER_NUMBER = {
    21211: Meaning("permanent", "invalid phone number"),
    21610: Meaning("permanent", "the recipient replied STOP (unsubscribed)"),
    21614: Meaning("permanent", "not a mobile number"),
    21408: Meaning("permanent", "region not enabled for this account"),
    21612: Meaning("permanent", "cannot route to this number"),
    30003: Meaning("retry", "unreachable handset (switched off or out of coverage)"),
    30004: Meaning("permanent", "message blocked by the recipient or the carrier"),
    30005: Meaning("permanent", "unknown destination handset"),
    30006: Meaning("permanent", "landline or unreachable carrier"),
    30007: Meaning("permanent", "blocked as spam by the carrier (carrier violation)"),
    30008: Meaning("retry", "unknown error at the carrier"),
    20503: Meaning("retry", "service temporarily unavailable"),
}


def meaning(code: int | None) -> Meaning | None:
    if code is None:
        return None
    return ACCOUNT.get(code) or PER_NUMBER.get(code)


def code_of(text: str | None) -> int | None:
    if text and text.strip().isdigit():
        return int(text.strip())
    return None
