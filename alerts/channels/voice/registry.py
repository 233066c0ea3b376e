"""TTS templates registered with Alibaba Cloud voice (config/voice_providers.yaml): codes and wording.

Like SMS, an Aliyun voice notification reads only a registered TTS template with variable values, so
each spoken template (channel voice) has a code and the wording as registered, which must say exactly
what our template says. The file may list only templates that exist; without it nothing is registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alerts.channels.sms.templates import Registered, wording
from alerts.content.library import Library

FILE = "voice_providers.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Entry(_Model):
    code: str = Field(min_length=1, max_length=40)  # TTS_123456789
    text: str = Field(min_length=1)  # the wording exactly as registered, with ${name} slots


class AliyunVoiceAccount(_Model):
    # CalledShowNumber: the number bought in the voice console; empty for the public-number mode.
    show_number: str = ""
    play_times: int = Field(2, ge=1, le=3)  # the text is read this many times in one call
    volume: int = Field(100, ge=0, le=100)
    speed: int = Field(-100, ge=-500, le=500)  # a little slower than the default, for the elderly
    # For 叫应 calls (a text not drafted from a template): a template with one variable ${text}.
    callout: Entry | None = None
    templates: dict[str, Entry] = Field(default_factory=dict)


class VoiceProvidersFile(_Model):
    aliyun: AliyunVoiceAccount | None = None


@dataclass
class VoiceRegistry:
    aliyun: AliyunVoiceAccount | None = None
    templates: dict[str, Registered] = field(default_factory=dict)
    callout: Registered | None = None

    def get(self, template_id: str) -> Registered | None:
        return self.templates.get(template_id)


class VoiceRegistryError(Exception):
    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _registered(template_id: str, entry: Entry) -> Registered:
    import re

    names = tuple(dict.fromkeys(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", entry.text)))
    return Registered("aliyun", template_id, entry.code, entry.text, names)


def load_voice_registry(path: Path) -> VoiceRegistry:
    """The registry; an absent file registers nothing."""
    if not path.exists():
        return VoiceRegistry()
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        parsed = VoiceProvidersFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise VoiceRegistryError([f"{path}: not valid YAML: {exc}"]) from None
    except ValidationError as exc:
        raise VoiceRegistryError([f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                                  for e in exc.errors()]) from None
    registry = VoiceRegistry(aliyun=parsed.aliyun)
    if parsed.aliyun is not None:
        registry.templates = {tid: _registered(tid, e) for tid, e in parsed.aliyun.templates.items()}
        if parsed.aliyun.callout is not None:
            registry.callout = _registered("callout", parsed.aliyun.callout)
    return registry


def registry_problems(path: Path, registry: VoiceRegistry, library: Library) -> list[str]:
    """Each registered entry names a spoken template of the library, with its wording as registered."""
    problems = []
    for template_id, registered in registry.templates.items():
        where = f"{path}: aliyun.templates.{template_id}"
        try:
            template = library.get(template_id)
        except KeyError:
            problems.append(f"{where}: no such template in the library — remove the entry or add the template")
            continue
        if template.channel != "voice":
            problems.append(f"{where}: {template_id} is a {template.channel} template; only spoken (voice) "
                            "templates are registered here")
            continue
        expected = wording(template, "aliyun")
        if expected is None:
            problems.append(f"{where}: the template uses more than plain {{{{ name }}}} variables, which a TTS "
                            "template cannot hold")
        elif expected != registered.text:
            problems.append(f"{where}: the registered wording differs from the reviewed text; register "
                            f"{expected!r} (code {registered.code}) and record it here")
    if registry.callout is not None and registry.callout.variables != ("text",):
        problems.append(f"{path}: aliyun.callout.text: the 叫应 template needs exactly one variable ${{text}}")
    return problems
