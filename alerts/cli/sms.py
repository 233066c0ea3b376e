"""`alerts sms export-templates`: the wording of every reviewed SMS template, ready to register."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

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
    """Write the wording of every reviewed SMS template in the provider's variable syntax
    (Aliyun ${name}, Tencent {1}); the provider adds the signature itself."""
    from alerts.channels.sms.templates import template_variables, wording
    from alerts.content.library import Library, LibraryError

    settings = settings_or_exit(config_dir)
    try:
        library = Library.load(settings.templates_dir, strict=False)
    except LibraryError as exc:
        fail(exc.problems)
        return
    rows, skipped = [], []
    for t in sorted(library.templates, key=lambda t: t.id):
        if t.channel != "sms" or t.status != "reviewed":
            continue
        names = template_variables(t)
        text = wording(t, provider)
        if names is None or text is None:
            skipped.append(t.id)
            continue
        rows.append((t, names, text))
    buffer = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buffer)
        writer.writerow(HEADINGS[provider])
        for t, names, text in rows:
            described = "；".join(f"{'{' + str(i + 1) + '}' if provider == 'tencent' else '${' + n + '}'}={n}"
                                 for i, n in enumerate(names))
            writer.writerow(["短信通知" if provider == "aliyun" else "国内短信-通知", t.title[:30], text,
                             described or "无变量", "政府部门应急科普与预警提示通知，引用官方预警，不含营销内容",
                             t.id])
    else:
        account = "sdk_app_id: \"1400000000\"  # your SmsSdkAppId\n  region: ap-guangzhou\n  " if provider == "tencent" else ""
        buffer.write(f"{provider}:\n  sign_name: {settings.service.sms.signature.strip('【】')}\n  {account}templates:\n")
        for t, names, text in rows:
            buffer.write(f"    {t.id}:\n      code: \"TODO\"  # the code {provider} assigned\n"
                         f"      text: {json.dumps(text, ensure_ascii=False)}\n")
            if provider == "tencent" and names:
                buffer.write(f"      variables: [{', '.join(names)}]\n")
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8-sig" if fmt == "csv" else "utf-8")
        click.echo(f"wrote {len(rows)} templates to {output}", err=True)
    for template_id in skipped:
        click.echo(f"skipped {template_id}: it uses conditions or filters, which cannot be registered", err=True)


COMMANDS = [sms]
