"""`alerts check` for registered SMS templates: every reviewed SMS text registered, same wording, safe variables."""

from __future__ import annotations

import re
from pathlib import Path

from alerts.channels.sms.templates import (
    DOMESTIC,
    FILE,
    Account,
    RegistryError,
    SmsRegistry,
    load_registry,
    params_for,
    template_variables,
    value_problems,
    wording,
)
from alerts.content.hazards import Hazard, default_hazards
from alerts.content.library import Library, Template
from alerts.content.lint import WORST_AREA, worst_contexts
from alerts.settings import ConfigError, Settings


def registry_problems(registry: SmsRegistry, library: Library, *, issuer: str, required: list[str]) -> list[str]:
    """One line per problem, naming the file, provider, template and what to register.

    `required`: the domestic providers the service sends through (channels.yaml / ALERTS_SMS_PROVIDER);
    each must have an account in the file. Every account in the file is checked in full.
    """
    where = registry.path or Path(FILE)
    problems = [f"{where}: {p}: missing — SMS go through {p}, so its signature and templates must be "
                f"registered here (alerts sms export-templates --provider {p})"
                for p in required if p not in registry.accounts]
    sms = [t for t in library.templates if t.channel == "sms" and t.status == "reviewed"]
    known = {t.id for t in library.templates}
    hazards = default_hazards()
    for provider, account in registry.accounts.items():
        for template_id in sorted(set(account.templates) | set(account.incomplete)):
            if template_id not in known:
                problems.append(f"{where}: {provider}.templates.{template_id}: not a template of the library; "
                                "remove it or fix the id (alerts templates list)")
        for template_id, code in sorted(account.incomplete.items()):
            problems.append(f"{where}: {provider}.templates.{template_id}: {code!r} names a code but not the "
                            "registered wording; write it as {code: ..., text: ...} with the text exactly as the "
                            f"{provider} console shows it")
        for template in sms:
            problems.extend(_template_problems(where, account, template, issuer, hazards.get(template.hazard)))
    return problems


def _template_problems(where: Path, account: Account, template: Template, issuer: str,
                       hazard: Hazard | None) -> list[str]:
    provider = account.provider
    key = f"{where}: {provider}.templates.{template.id}"
    names = template_variables(template)
    if names is None:
        return [f"{key}: the template uses conditions or filters, which a registered template cannot hold; "
                "split it into plain templates with {{ name }} variables only"]
    registered = account.templates.get(template.id)
    ours = wording(template, provider, list(registered.variables) if registered else None)
    if template.id in account.incomplete:
        return []
    if registered is None:
        return [f"{key}: missing — register this wording with {provider} and add its code here: {ours}"]
    problems = []
    slots = set(re.findall(r"\{(\d+)\}", registered.text))
    if provider == "tencent" and len(registered.variables) != len(slots):
        problems.append(f"{key}.variables: {list(registered.variables)} — the wording has {len(slots)} slots "
                        f"({{1}}…); name the template's variable behind each, in order: {names}")
    elif provider == "tencent" and set(registered.variables) != set(names):
        problems.append(f"{key}.variables: {list(registered.variables)} — the template's variables are {names}")
    if ours != registered.text:
        problems.append(f"{key}: the registered wording differs from the reviewed template; register the new "
                        f"wording and update code and text here. Registered: {registered.text} — "
                        f"the template now says: {ours}")
    if hazard is None:
        return problems
    seen: set[str] = set()
    for context in worst_contexts(template, hazard, WORST_AREA, issuer):
        params = params_for(template, context) or {}
        for name, value in params.items():
            for problem in value_problems(account, name, value):
                if problem not in seen:
                    seen.add(problem)
                    problems.append(f"{key}: {problem} (at its longest) — shorten the value (issuer names in "
                                    "service.yaml, area phrases) or register the text without this variable")
    return problems


def check_settings(settings: Settings, library: Library, *, issuer: str) -> list[str]:
    """The registered-template part of `alerts check`."""
    from alerts.channels.sms.build import selected_providers

    path = settings.config_dir / FILE
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        return exc.lines
    try:
        providers = selected_providers(settings)
    except ConfigError as exc:
        return exc.lines
    return registry_problems(registry, library, issuer=issuer, required=[p for p in providers if p in DOMESTIC])
