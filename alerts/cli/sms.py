"""`alerts sms export-templates`: the wording of every reviewed SMS template, ready to register."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from alerts.cli.common import config_option, fail, settings_or_exit

# Column headings of the providers' bulk template application sheets (one row per template).
HEADINGS = {
    "aliyun": ["模板类型", "模板名称", "模板内容", "变量属性", "申请说明", "模板编号（本系统）"],
    "tencent": ["短信类型", "模板名称", "模板内容", "变量说明", "申请说明", "模板编号（本系统）"],
}


@click.group()
def sms() -> None:
    """SMS through domestic providers (Alibaba Cloud, Tencent Cloud): registered templates."""


@sms.command("export-templates")
@click.option("--provider", type=click.Choice(["aliyun", "tencent"]), required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "yaml"]), default="csv", show_default=True,
              help="csv: the sheet to submit in the provider's console; yaml: entries for sms_providers.yaml "
                   "(fill in the codes the provider assigns).")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to this file (default: stdout).")
@config_option
def export_templates(provider: str, fmt: str, output: Path | None, config_dir: Path) -> None:
    """Write the wording of every reviewed SMS template, and of the events' skeletons (task notices,
    叫应, policy explanations, rumour responses), in the provider's variable syntax (Aliyun ${name},
    Tencent {1}); the provider adds the signature itself."""
    from alerts.content.library import Library, LibraryError

    settings = settings_or_exit(config_dir)
    try:
        library = Library.load(settings.templates_dir, strict=False)
    except LibraryError as exc:
        fail(exc.problems)
        return
    rows, skipped = _library_rows(library, provider)
    events, skipped_events = _event_rows(settings, provider)
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer)
        writer.writerow(HEADINGS[provider])
        for row, purpose in [(r, PURPOSE_RESIDENTS) for r in rows] + [(r, PURPOSE.get(r.id, PURPOSE[r.kind])) for r in events]:
            described = "；".join(f"{'{' + str(i + 1) + '}' if provider == 'tencent' else '${' + n + '}'}={n}"
                                 + ("（电话号码）" if n in PHONE_VARIABLES else "")
                                 for i, n in enumerate(row.names))
            writer.writerow(["短信通知" if provider == "aliyun" else "国内短信-通知", row.title[:30], row.text,
                             described or "无变量", purpose, row.id])
    else:
        account = "sdk_app_id: \"1400000000\"  # your SmsSdkAppId\n  region: ap-guangzhou\n  " if provider == "tencent" else ""
        buffer.write(f"{provider}:\n  sign_name: {settings.service.sms.signature.strip('【】')}\n  {account}"
                     f"phone_variables: [{', '.join(PHONE_VARIABLES)}]\n")
        # event_templates first: the templates block is regenerated up to the next top-level key.
        for section, entries in (("event_templates", events), ("templates", rows)):
            buffer.write(f"  {section}:\n")
            for row in entries:
                buffer.write(f"    {row.id}:\n      code: \"TODO\"  # the code {provider} assigned\n"
                             f"      text: {json.dumps(row.text, ensure_ascii=False)}\n")
                if provider == "tencent" and row.names:
                    buffer.write(f"      variables: [{', '.join(row.names)}]\n")
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        click.echo(f"wrote {len(rows)} templates and {len(events)} event skeletons to {output}", err=True)
    for template_id in skipped:
        click.echo(f"skipped {template_id}: it uses conditions or filters, which cannot be registered", err=True)
    for problem in skipped_events:
        click.echo(f"skipped {problem}", err=True)


@dataclass(frozen=True)
class Row:
    id: str
    title: str
    names: list[str]
    text: str
    kind: str = "residents"


# Variables that carry a telephone number (registered with the provider as such).
PHONE_VARIABLES = ("phone",)
PURPOSE_RESIDENTS = "政府部门应急科普与预警提示通知，引用官方预警，不含营销内容"
PURPOSE = {
    "task": "政府应急管理部门向成员单位值班人员发送的应急任务通知，请对方回复确认，不含营销内容",
    "callout": "政府应急管理部门在红色预警时向乡镇、村责任人发送的叫应通知，请对方回复确认，不含营销内容",
    "callout.institution": "政府应急管理部门向学校、企业等单位发送的预警张贴确认通知，请对方回复确认，不含营销内容",
    "policy": "政府部门在突发事件期间向公众发布的政策解读，内容经专家审核和审批，不含营销内容",
    "rumour": "政府部门针对突发事件期间网络谣言的辟谣回应，经宣传部门审签，不含营销内容",
    "reminder": "政府应急管理部门提醒值班审批人员及时审批待发的预警科普消息，不含营销内容",
}


def _library_rows(library: Any, provider: str) -> tuple[list[Row], list[str]]:
    from alerts.channels.sms.templates import template_variables, wording

    rows, skipped = [], []
    for t in sorted(library.templates, key=lambda t: t.id):
        if t.channel != "sms" or t.status != "reviewed":
            continue
        names = template_variables(t)
        text = wording(t, provider)
        if names is None or text is None:
            skipped.append(t.id)
            continue
        rows.append(Row(t.id, t.title, names, text))
    return rows, skipped


def _event_rows(settings: Any, provider: str) -> tuple[list[Row], list[str]]:
    from alerts.events.registered import shape_problems, sms_variables, template_id, wording
    from alerts.events.skeletons import Skeletons

    skeletons = Skeletons.load(settings.templates_dir)
    rows, skipped = [], list(skeletons.problems)
    for sk in sorted(skeletons.by_key.values(), key=template_id):
        if "sms" not in sk.texts:
            continue
        if sk.status != "reviewed":
            skipped.append(f"{sk.path}: {sk.status} — stamp it after review (python -m alerts.events.stamp)")
            continue
        shape = shape_problems(sk)
        names, text = sms_variables(sk), wording(sk, provider)
        if shape or names is None or text is None:
            skipped.extend(shape or [f"{sk.path}: its SMS text cannot be rendered"])
            continue
        rows.append(Row(template_id(sk), sk.title, names, text, kind=sk.kind))
    return rows, skipped


COMMANDS = [sms]
