"""Test support for voice: a template library with a spoken text of our own, and the config to call."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from alerts.channels.sms.templates import wording
from alerts.content.library import Library, record_review
from tests.workflow.support import ROOT

VOICE_ID = "rainstorm.orange-red.residents.voice"
# Written for the ear: no brackets or abbreviations, what to do first, then whom to call.
VOICE_TEMPLATE = """id: rainstorm.orange-red.residents.voice
hazard: rainstorm
levels: [orange, red]
audience: residents
channel: voice
language: zh-CN
stage: warning
version: 1
title: "暴雨橙色、红色预警 居民语音（测试）"
text: |-
  {{ issuer }}发布了{{ event }}{{ level_name }}预警。请大家不要外出，远离河道、山坡和低洼的地方，住在危房里的人请马上转移到安全的地方。遇到危险请拨打一一零或一一九。
"""
CALLOUT_CODE = "TTS_300000001"
VOICE_CODE = "TTS_300000002"


def voice_library(tmp_path: Path) -> Path:
    """The shipped library plus one reviewed spoken template."""
    target = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", target)
    (target / "rainstorm" / "orange-red.residents.voice.yaml").write_text(VOICE_TEMPLATE, encoding="utf-8")
    library = Library.load(target)
    record_review(library.get(VOICE_ID), "语音测试专家", "语音测试审批人",
                  datetime(2026, 11, 29, 18, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    return target


def configure(config_dir: Path, templates: Path, provider: str, *, controllers: dict[str, str] | None = None,
              retries: int = 2) -> dict[str, str]:
    """Point the config at `templates`, turn voice on with `provider`; the TTS registry for Aliyun."""
    service = config_dir / "service.yaml"
    text = service.read_text(encoding="utf-8")
    text = text.replace(f"templates_dir: {ROOT / 'templates'}", f"templates_dir: {templates}")
    service.write_text(text, encoding="utf-8")
    channels = config_dir / "channels.yaml"
    data = yaml.safe_load(channels.read_text(encoding="utf-8"))
    data["voice"].update(providers=[provider], retries=retries, retry_minutes=3)
    data["voice"]["broadcast"]["controllers"] = controllers or {}
    channels.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    library = Library.load(templates)
    registered = wording(library.get(VOICE_ID), "aliyun")
    assert registered is not None
    (config_dir / "voice_providers.yaml").write_text(yaml.safe_dump({"aliyun": {
        "show_number": "03565550000", "play_times": 2,
        "callout": {"code": CALLOUT_CODE, "text": "${text}"},
        "templates": {VOICE_ID: {"code": VOICE_CODE, "text": registered}}}}, allow_unicode=True), encoding="utf-8")
    return {VOICE_CODE: registered, CALLOUT_CODE: "${text}"}
