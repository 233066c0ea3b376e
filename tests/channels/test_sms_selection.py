"""Which SMS providers the service uses: config, ALERTS_SMS_PROVIDER, and only their credentials needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.channels.log import LogChannel
from alerts.channels.registry import build_sms
from alerts.channels.sms.build import selected_providers
from alerts.channels.sms.channel import SmsChannel
from alerts.settings import ConfigError, load_settings

KEYS = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tx", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s",
        "TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": "k"}


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [*KEYS, "ALERTS_SMS_PROVIDER", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")


def test_auto_keeps_the_log_channel_without_credentials(config_dir: Path) -> None:
    settings = load_settings(config_dir)
    assert selected_providers(settings) == ["auto"]
    assert isinstance(build_sms(settings, settings.secrets), LogChannel)


def test_the_environment_names_one_provider_or_an_ordered_list(config_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(config_dir)
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", "Aliyun, tencent,log")
    assert selected_providers(settings) == ["aliyun", "tencent", "log"]
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", "aliyun,sms77")
    with pytest.raises(ConfigError, match="ALERTS_SMS_PROVIDER: 'aliyun,sms77'"):
        selected_providers(settings)


def test_channels_yaml_lists_providers_in_order(config_dir: Path) -> None:
    path = config_dir / "channels.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("  providers: []", "  providers: [tencent, aliyun]"),
                    encoding="utf-8")
    assert selected_providers(load_settings(config_dir)) == ["tencent", "aliyun"]


def test_a_selected_provider_without_its_credentials_stops_start_up_with_what_to_set(
        config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", "aliyun")
    settings = load_settings(config_dir)
    with pytest.raises(ConfigError) as info:
        build_sms(settings, settings.secrets)
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET" in str(info.value)


def test_only_the_selected_providers_credentials_are_needed(config_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", "tencent,log")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", KEYS["TENCENTCLOUD_SECRET_ID"])
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", KEYS["TENCENTCLOUD_SECRET_KEY"])
    settings = load_settings(config_dir)
    sms = build_sms(settings, settings.secrets)
    assert isinstance(sms, SmsChannel) and [p.name for p in sms.providers] == ["tencent", "log"]


def test_an_endpoint_that_is_not_a_url_or_host_is_refused(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_SMS_PROVIDER", "aliyun")
    for var in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.setenv(var, KEYS[var])
    monkeypatch.setenv("ALERTS_ALIYUN_SMS_ENDPOINT", "ftp://sms")
    settings = load_settings(config_dir)
    with pytest.raises(ConfigError, match="ALERTS_ALIYUN_SMS_ENDPOINT"):
        build_sms(settings, settings.secrets)
