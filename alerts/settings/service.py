"""config/service.yaml: the service itself: names, paths, database, SMS rules, demo feed."""

from __future__ import annotations

from pydantic import Field

from alerts.settings._base import Section


class SmsSection(Section):
    signature: str = "【高平应急科普】"
    max_segments: int = Field(2, ge=1, le=10)
    max_characters: int = Field(500, ge=70)
    banned_words: list[str] = Field(default_factory=list)
    forbid_urls: bool = True


class HttpSection(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # Base URL the public sees; used for Twilio callbacks and feed links.
    public_base_url: str = "http://127.0.0.1:8080"
    max_body_bytes: int = Field(1_048_576, ge=1024)


class SessionSection(Section):
    idle_timeout_minutes: int = Field(30, ge=1)
    max_failed_logins: int = Field(5, ge=1)
    lockout_minutes: int = Field(5, ge=1)


class ServiceConfig(Section):
    name: str = "高平市应急科普预警服务"
    region_name: str = "高平市"
    region_code: str = "140581"
    timezone: str = "Asia/Shanghai"
    issuer_default: str = "高平市气象台"
    # Who issues which hazard's warnings, for messages that name no issuer (hazard key → name).
    issuers: dict[str, str] = Field(default_factory=dict)
    database_url: str = "sqlite:///../var/alerts.db"
    var_dir: str = "../var"
    templates_dir: str = "../templates"
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    http: HttpSection = HttpSection()
    sms: SmsSection = SmsSection()
    session: SessionSection = SessionSection()
