"""config/notices.yaml (optional): IM webhooks, e-mail, printable notices and the public feeds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from alerts.settings import Settings, load_optional
from alerts.settings._base import Section

FILENAME = "notices.yaml"


class WebhookSection(Section):
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_response_bytes: int = Field(65_536, ge=256, le=10_485_760)
    # Plain http is refused except to these hosts (tests and a local relay use 127.0.0.1).
    allow_http_hosts: list[str] = Field(default_factory=list)
    # Robot URLs on private, loopback or link-local addresses are refused by `alerts check` unless
    # their network is listed here (tests and a local relay: 127.0.0.0/8).
    allow_networks: list[str] = Field(default_factory=list)


class EmailSection(Section):
    # starttls (port 587), tls (implicit, port 465) or none (a local relay only).
    security: Literal["starttls", "tls", "none"] = "starttls"
    timeout_seconds: float = Field(20.0, gt=0, le=300)
    subject_prefix: str = ""


class NoticeSection(Section):
    # Who the printed notice is from; default: the service name from service.yaml.
    issuer: str = ""
    directory: str = "notices"  # under var_dir: one printable HTML file per message


class FeedSection(Section):
    title: str = "高平市应急科普预警信息"
    # Message audiences whose texts are meant for the public (the media centre republishes them).
    public_audiences: list[str] = Field(default_factory=lambda: ["residents", "elderly"])
    kinds: list[str] = Field(default_factory=lambda: ["warning", "update", "all_clear", "correction", "policy",
                                                      "rumour_response"])
    # The feed is for the media centre and screens: one entry per message in these languages.
    languages: list[str] = Field(default_factory=lambda: ["zh-CN"])
    max_entries: int = Field(50, ge=1, le=500)
    cap_sender: str = "kepu.gaoping.example"
    author: str = ""  # default: the service name


class NoticesConfig(Section):
    webhooks: WebhookSection = WebhookSection()
    email: EmailSection = EmailSection()
    notice: NoticeSection = NoticeSection()
    feed: FeedSection = FeedSection()


def notices_config(settings: Settings) -> NoticesConfig:
    """notices.yaml from the config directory, validated; defaults when the file is absent."""
    return load_optional(settings, FILENAME, NoticesConfig)
