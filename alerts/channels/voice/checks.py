"""`alerts check` for voice: the provider's credentials and caller, and the TTS registry's wording."""

from __future__ import annotations

from alerts.content.library import Library
from alerts.settings import Settings


def check_settings(settings: Settings, library: Library) -> list[str]:
    from alerts.channels.voice.build import configuration_problems, selected_provider
    from alerts.channels.voice.registry import (
        FILE,
        VoiceRegistryError,
        load_voice_registry,
        registry_problems,
    )

    path = settings.config_dir / FILE
    try:
        registry = load_voice_registry(path)
    except VoiceRegistryError as exc:
        return exc.lines
    problems = registry_problems(path, registry, library)
    problems += configuration_problems(settings)
    try:
        provider = selected_provider(settings)
    except Exception:  # noqa: BLE001 - already reported by configuration_problems
        provider = None
    if provider == "aliyun" and registry.aliyun is not None and registry.callout is None:
        # 叫应 escalation steps try voice first once a voice channel exists: without the template each
        # such call would fail, and that step would reach nobody.
        problems.append(f"{path}: aliyun.callout: missing — register a TTS template whose whole text is "
                        "${text} and record it as callout: {code: TTS_…, text: \"${text}\"} so that 叫应 calls "
                        "can be read")
    if provider == "aliyun":
        spoken = [t for t in library.templates if t.channel == "voice" and t.audience == "residents"
                  and t.status == "reviewed" and t.language == "zh-CN"]
        problems += [f"{path}: aliyun.templates.{t.id}: missing — voice is on (aliyun) and this reviewed spoken "
                     "template has no registered TTS code; register it and record code and wording here"
                     for t in spoken if registry.get(t.id) is None]
    return problems
