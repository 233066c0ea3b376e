"""Key hints show a short prefix of a robot's key, never its last characters.

Before: hints ended with the URL's last four characters, which are the end of the secret key.
"""

from __future__ import annotations

from alerts.crypto import mask_url

KEY = "693a91f6-7c2e-4bc4-97a0-0ec2e9fa5aaa"


def test_a_robot_url_is_shown_as_host_and_a_key_prefix() -> None:
    wecom = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}"
    shown = mask_url(wecom)
    assert shown == "https://qyapi.weixin.qq.com/…693a…"
    assert KEY[-4:] not in shown and "cgi-bin" not in shown
    ding = mask_url("https://oapi.dingtalk.com/robot/send?access_token=c0ffee0123456789abcdef")
    assert ding == "https://oapi.dingtalk.com/…c0ff…"
    assert mask_url("https://example.cn/hooks/short") == "https://example.cn/…"
