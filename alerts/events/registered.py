"""The events' SMS skeletons as domestic providers register them: wording, `alerts check`, export rows.

Task notices and 叫应 requests go straight to responsible persons, policy explanations and rumour
responses to residents; through Alibaba Cloud or Tencent Cloud each can only go out as a registered
template code with variable values. So a skeleton's SMS text is plain: {{ name }} slots only, fixed
text between any two of them (adjacent values could not be told apart when read back), and no 【】
(the provider puts the 【signature】 first itself). It is registered under `<kind>.<key>` in the
`event_templates` section of config/sms_providers.yaml, and checked like the residents' templates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alerts.channels.sms.templates import (
    FILE,
    JINJA_SYNTAX,
    SIMPLE_VARIABLE,
    Account,
    SmsRegistry,
    marks_for,
    slotted,
    value_problems,
)
from alerts.events.skeletons import Skeleton, SkeletonError, Skeletons

ADJACENT = re.compile(r"\}\}\s*\{\{")
BRACKETS = re.compile(r"[【】]")


@dataclass(frozen=True)
class SmsNotice:
    """One event SMS as sent: the registered template's id, its variable values and the filled text."""

    template_id: str
    params: dict[str, str]
    text: str


def template_id(sk: Skeleton) -> str:
    """The id a skeleton is registered under; the same as its drafted messages' template id."""
    return f"{sk.kind}.{sk.key}"


def sms_variables(sk: Skeleton) -> list[str] | None:
    """The variables of the SMS text in order of first appearance; None when it holds more than plain
    {{ name }} slots (conditions, filters), which no provider registers."""
    source = sk.texts.get("sms")
    if source is None:
        return None
    if JINJA_SYNTAX.search(SIMPLE_VARIABLE.sub("", source)):
        return None
    return list(dict.fromkeys(SIMPLE_VARIABLE.findall(source)))


def shape_problems(sk: Skeleton) -> list[str]:
    """What keeps the SMS text from being registered as it is."""
    source = sk.texts.get("sms")
    if source is None:
        return []
    where = f"{sk.path}: texts.sms"
    problems = []
    if sms_variables(sk) is None:
        problems.append(f"{where}: uses conditions or filters, which a registered SMS template cannot hold; "
                        "use plain {{ name }} variables only")
    adjacent = ADJACENT.search(source)
    if adjacent is not None:
        around = source[max(0, adjacent.start() - 12):adjacent.end() + 12]
        problems.append(f"{where}: two variables stand side by side (…{around}…); put fixed words between them "
                        "so each value can be read back from the text")
    if BRACKETS.search(source):
        problems.append(f"{where}: holds 【】; the provider puts the 【signature】 first itself and refuses "
                        "other 【】 in templates — start with words such as 任务提醒： instead")
    return problems


def wording(sk: Skeleton, provider: str, variables: list[str] | None = None) -> str | None:
    """The SMS text to register with `provider` (Aliyun ${name}, Tencent {1}...), or None if it cannot be."""
    names = sms_variables(sk)
    if names is None:
        return None
    try:
        marked = sk.render("sms", marks_for(names))
    except SkeletonError:
        return None
    return slotted(marked, names, provider, variables)


def sms_notice(sk: Skeleton, values: Mapping[str, str]) -> SmsNotice:
    """The skeleton's SMS filled with `values`, with the values its registered template takes."""
    names = sms_variables(sk) or []
    params = {name: str(values.get(name, "")) for name in names}
    return SmsNotice(template_id(sk), params, sk.render("sms", dict(values)))


def registry_problems(registry: SmsRegistry, skeletons: Skeletons, longest: Mapping[str, str]) -> list[str]:
    """Per provider account in the file: every skeleton's SMS registered, the same wording, values that
    fit (`longest`: each variable at its longest, as `alerts check` supposes it)."""
    where = registry.path or Path(FILE)
    with_sms = {template_id(sk): sk for sk in skeletons.by_key.values() if "sms" in sk.texts}
    problems = []
    for provider, account in registry.accounts.items():
        for tid in sorted((set(account.events) | set(account.events_incomplete)) - set(with_sms)):
            problems.append(f"{where}: {provider}.event_templates.{tid}: not an event skeleton with an SMS text; "
                            "remove it or fix the id (<kind>.<key>, e.g. task.approvals)")
        for tid, code in sorted(account.events_incomplete.items()):
            problems.append(f"{where}: {provider}.event_templates.{tid}: {code!r} names a code but not the "
                            "registered wording; write it as {code: ..., text: ...} with the text exactly as the "
                            f"{provider} console shows it")
        for tid, sk in sorted(with_sms.items()):
            if tid not in account.events_incomplete:
                problems.extend(_skeleton_problems(where, account, tid, sk, longest))
    return problems


def _skeleton_problems(where: Path, account: Account, tid: str, sk: Skeleton,
                       longest: Mapping[str, str]) -> list[str]:
    provider = account.provider
    key = f"{where}: {provider}.event_templates.{tid}"
    names = sms_variables(sk)
    if names is None:
        return []  # reported once by shape_problems
    registered = account.events.get(tid)
    ours = wording(sk, provider, list(registered.variables) if registered else None)
    if registered is None:
        return [f"{key}: missing — register this wording with {provider} (alerts sms export-templates "
                f"--provider {provider}) and add its code here: {ours}"]
    problems = []
    if provider == "tencent" and len(registered.variables) != len(set(re.findall(r"\{(\d+)\}", registered.text))):
        problems.append(f"{key}.variables: {list(registered.variables)} — name the skeleton's variable behind "
                        f"each {{1}}… slot, in order: {names}")
    elif provider == "tencent" and set(registered.variables) != set(names):
        problems.append(f"{key}.variables: {list(registered.variables)} — the skeleton's variables are {names}")
    if ours != registered.text:
        problems.append(f"{key}: the registered wording differs from the reviewed skeleton {sk.path}; register "
                        f"the new wording and update code and text here. Registered: {registered.text} — "
                        f"the skeleton now says: {ours}")
    seen: set[str] = set()
    for values in sample_values(sk, longest):
        for name in names:
            for problem in value_problems(account, name, values.get(name, "")):
                if problem not in seen:
                    seen.add(problem)
                    problems.append(f"{key}: {problem} — lower the field's max in {sk.path}, shorten the names it "
                                    "takes (departments.yaml short names, issuers) or apply for longer variables")
    return problems


def sample_values(sk: Skeleton, context: Mapping[str, str]) -> list[dict[str, str]]:
    """`context` with the skeleton's own fields at their limit, and with their examples (a telephone
    number looks like one only in the example)."""
    return [{**context, **{f.name: "字" * f.max for f in sk.fields}},
            {**context, **{f.name: f.example for f in sk.fields if f.example}}]
