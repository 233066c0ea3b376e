"""config/chains.yaml (optional): following a warning's chain: offices, source groups, expiry, bursts."""

from __future__ import annotations

from pydantic import Field

from alerts.settings import Settings, load_optional
from alerts.settings._base import Section

FILENAME = "chains.yaml"


class OfficeSection(Section):
    """An issuing office as residents read it. Resident texts name offices only from here (or
    service.yaml issuers), never the alert's own senderName."""

    name: str = Field(min_length=1, max_length=12)
    # Exact <sender> strings, or "prefix*" matched against <sender> and <identifier> (the national
    # profile's identifier starts with the sender code: 14058141600000_...).
    senders: list[str] = Field(min_length=1)


class CombineSection(Section):
    # Pending new warnings for the same townships drafted within this many seconds of each other are
    # offered to the approver as one combined message. Red warnings are never combined or delayed.
    window_seconds: float = Field(180.0, ge=0, le=3600)
    # Warning SMS a resident receives per rolling hour before lower levels wait (0: no budget).
    # A red warning is never held back.
    per_resident_per_hour: int = Field(4, ge=0, le=100)


class ChainsConfig(Section):
    offices: list[OfficeSection] = Field(default_factory=list)
    # Sources allowed to act on one another's chains: name -> sources ("push:<user>" for pushing
    # accounts, a feed name from feeds.yaml, or "prefix*"). An Update or Cancel must come from the
    # source that pushed the chain's first message or from a group that holds both.
    source_groups: dict[str, list[str]] = Field(default_factory=dict)
    # Sources whose convention is that a warning ends at its expiry time: a warning of theirs past
    # its expiry without an all-clear gets a "到期自动解除" follow-up. Others are only marked expired.
    expiry_ends_warning: list[str] = Field(default_factory=list)
    combine: CombineSection = CombineSection()


def chains_config(settings: Settings) -> ChainsConfig:
    """chains.yaml from the config directory, validated; defaults when the file is absent."""
    return load_optional(settings, FILENAME, ChainsConfig)


def source_matches(pattern: str, source: str) -> bool:
    return source.startswith(pattern[:-1]) if pattern.endswith("*") else source == pattern


def office_for(config: ChainsConfig, sender: str, identifier: str) -> str | None:
    """The configured office name for a message's sender, or None when the sender is not configured."""
    for office in config.offices:
        for pattern in office.senders:
            if pattern.endswith("*"):
                if sender.startswith(pattern[:-1]) or identifier.startswith(pattern[:-1]):
                    return office.name
            elif sender == pattern:
                return office.name
    return None
