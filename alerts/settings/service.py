"""config/service.yaml: the service itself: names, paths, database, SMS rules, demo feed."""

from __future__ import annotations

from pydantic import Field, field_validator

from alerts.security.netguard import networks
from alerts.settings._base import Section
from alerts.settings.workflow import PERMISSIONS


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
    # Reverse proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are
    # believed. Empty: none, so a client cannot choose the address it is throttled and logged under.
    trusted_proxies: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks(value)  # raises ValueError naming the bad item
        return value


class SessionSection(Section):
    idle_timeout_minutes: int = Field(30, ge=1)
    # However active, a console session ends this long after sign-in.
    absolute_hours: float = Field(12, ge=1, le=168)
    # Wrong passwords slow down, never lock: after `free_failures` from one client for one account,
    # each further try waits twice as long as the last (from first_delay_seconds up to
    # max_delay_minutes). Across all clients an account slows down after `account_free_failures`,
    # except from a device its owner signed in from before (remembered for remember_device_days).
    free_failures: int = Field(3, ge=1, le=100)
    account_free_failures: int = Field(20, ge=1, le=10_000)
    first_delay_seconds: float = Field(2, ge=0.1, le=600)
    max_delay_minutes: float = Field(15, ge=0.1, le=1440)
    remember_device_days: int = Field(180, ge=1, le=730)


class TwoPersonSection(Section):
    # Granting a role that holds any of these permissions, or resetting the credentials of
    # someone who holds one, takes effect only when a second person with manage_users confirms.
    enabled: bool = True
    permissions: list[str] = Field(default_factory=lambda: ["approve", "manage_users", "manage_settings"])

    @field_validator("permissions")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PERMISSIONS]
        if unknown:
            raise ValueError(f"unknown permission(s) {', '.join(unknown)}: expected some of {', '.join(PERMISSIONS)}")
        return value


class AccountsSection(Section):
    # A new person sets their own password through a one-time link, valid this long.
    enrolment_hours: float = Field(72, gt=0, le=720)
    two_person: TwoPersonSection = TwoPersonSection()


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
    accounts: AccountsSection = AccountsSection()
