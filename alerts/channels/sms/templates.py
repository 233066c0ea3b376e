"""Templates registered with domestic SMS providers (config/sms_providers.yaml): wording, codes, variables.

A domestic provider sends only a registered template code with variable values; the text a phone shows
is the registered wording with the variables filled in, and the provider puts the 【signature】 first.
So every reviewed SMS template has, per provider, a code and the wording as registered, and the two
must say exactly what our template says: same fixed text, same variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from alerts.content.library import Template
from alerts.content.render import RenderError, render

DOMESTIC = ("aliyun", "tencent")
FILE = "sms_providers.yaml"
# {{ name }} and nothing else: a registered template has named slots, no logic.
SIMPLE_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
JINJA_SYNTAX = re.compile(r"\{\{|\{%|\{#")
URL = re.compile(r"(https?://|www\.|[a-z0-9-]+\.(com|cn|net|org|gov)\b)", re.IGNORECASE)
PHONE = re.compile(r"\d{7,}")
# Per provider: numbers per SendSms call, and the default length limit of one variable's value.
MAX_NUMBERS = {"aliyun": 1000, "tencent": 200}
DEFAULT_VARIABLE_MAX = {"aliyun": 35, "tencent": 12}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisteredEntry(_Model):
    code: str = Field(min_length=1, max_length=40)
    text: str = Field(min_length=1)  # the wording exactly as registered: ${name} (Aliyun) or {1} (Tencent)
    # Tencent only: our variable name for {1}, {2}, ... in order (required when the wording has slots).
    variables: list[str] = Field(default_factory=list)

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class FrequencySection(_Model):
    """The account's per-number limits (provider console): what a frequency-limit answer means."""

    per_minute: int = Field(1, ge=0)
    per_hour: int = Field(5, ge=0)
    per_day: int = Field(10, ge=0)
    minute_window_seconds: float = Field(60.0, gt=0)  # Tencent counts 30 s


class AccountSection(_Model):
    sign_name: str = Field(min_length=2, max_length=20)
    sdk_app_id: str = ""  # Tencent SmsSdkAppId
    region: str = ""  # Tencent region, e.g. ap-guangzhou
    variable_max_chars: int | None = Field(None, ge=1, le=100)
    # Variables registered as phone numbers (their values may hold digits).
    phone_variables: list[str] = Field(default_factory=list)
    frequency: FrequencySection = FrequencySection()
    # The events' reviewed skeletons (templates/tasks, policy, rumour) by `<kind>.<key>`: task notices
    # and 叫应 go to responsible persons directly, policy explanations and rumour responses as messages.
    event_templates: dict[str, RegisteredEntry | str] = Field(default_factory=dict)
    templates: dict[str, RegisteredEntry | str] = Field(default_factory=dict)

    @field_validator("sdk_app_id", mode="before")
    @classmethod
    def _app(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class SmsProvidersFile(_Model):
    aliyun: AccountSection | None = None
    tencent: AccountSection | None = None


@dataclass(frozen=True)
class Registered:
    """One of our templates as registered with one provider."""

    provider: str
    template_id: str
    code: str
    text: str
    variables: tuple[str, ...]  # our names, in the provider's order (Tencent's {1}, {2}, ...)

    def slots(self) -> list[tuple[str, str]]:
        """(placeholder as written in the wording, our variable name) for every slot."""
        if self.provider == "tencent":
            return [("{" + str(i + 1) + "}", name) for i, name in enumerate(self.variables)]
        return [("${" + name + "}", name) for name in self.variables]

    def fill(self, params: Mapping[str, str]) -> str:
        """The text a phone shows (without the signature): the wording with the variables filled in."""
        out = self.text
        for placeholder, name in self.slots():
            out = out.replace(placeholder, str(params.get(name, "")))
        return out

    def provider_params(self, params: Mapping[str, str]) -> dict[str, str] | list[str]:
        """Aliyun takes a JSON object by name, Tencent a list by position; values always strings."""
        if self.provider == "tencent":
            return [str(params.get(name, "")) for name in self.variables]
        return {name: str(params.get(name, "")) for name in self.variables}

    def parse(self, text: str, prefer: Mapping[str, str] | None = None) -> dict[str, str] | None:
        """The variable values that turn the wording into `text`, or None when the fixed text differs
        (an edited message may change what is in the slots, nothing else). Adjacent slots are ambiguous,
        so each slot first tries its value in `prefer` (the values as drafted): the smallest change wins."""
        pattern, names, pos = "", [], 0
        slots = self.slots()
        found = sorted(((m.start(), m.end(), name) for placeholder, name in slots
                        for m in re.finditer(re.escape(placeholder), self.text)), key=lambda t: t[0])
        for start, end, name in found:
            pattern += re.escape(self.text[pos:start])
            hint = f"{re.escape(prefer[name])}|" if prefer and prefer.get(name) else ""
            # A value never holds a full stop: text appended after a closing slot ("…{in_force}。请转告。")
            # must not be read as part of that variable.
            pattern += f"(?P={_group(name)})" if name in names else f"(?P<{_group(name)}>{hint}[^。！？\n]+?)"
            names.append(name)
            pos = end
        pattern += re.escape(self.text[pos:])
        match = re.fullmatch(pattern, text, flags=re.DOTALL)
        if match is None:
            return None
        return {name: match.group(_group(name)) for name in dict.fromkeys(names)}


def _group(name: str) -> str:
    return "v_" + name


@dataclass
class Account:
    provider: str
    sign_name: str
    sdk_app_id: str
    region: str
    variable_max_chars: int
    phone_variables: tuple[str, ...]
    frequency: FrequencySection
    templates: dict[str, Registered] = field(default_factory=dict)
    # Entries that name a code but not the wording (reported by `alerts check`).
    incomplete: dict[str, str] = field(default_factory=dict)
    # The same for the events' skeletons (event_templates), kept apart from the message library's.
    events: dict[str, Registered] = field(default_factory=dict)
    events_incomplete: dict[str, str] = field(default_factory=dict)

    def registered(self, template_id: str) -> Registered | None:
        return self.templates.get(template_id) or self.events.get(template_id)

    @property
    def max_numbers(self) -> int:
        return MAX_NUMBERS[self.provider]


@dataclass
class SmsRegistry:
    accounts: dict[str, Account] = field(default_factory=dict)
    path: Path | None = None

    def get(self, provider: str, template_id: str) -> Registered | None:
        account = self.accounts.get(provider)
        return account.registered(template_id) if account else None

    def registered_with(self, template_id: str) -> list[str]:
        return [p for p, a in self.accounts.items() if a.registered(template_id) is not None]


class RegistryError(Exception):
    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def load_registry(path: Path) -> SmsRegistry:
    """Read config/sms_providers.yaml (missing file: no provider has anything registered)."""
    import yaml

    from alerts.settings import describe_validation_error

    if not path.exists():
        return SmsRegistry(path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RegistryError([f"{path}: not valid YAML ({str(exc).splitlines()[0]})"]) from None
    try:
        parsed = SmsProvidersFile.model_validate(raw)
    except ValidationError as exc:
        raise RegistryError(describe_validation_error(str(path), exc)) from None
    registry = SmsRegistry(path=path)
    for provider in DOMESTIC:
        section: AccountSection | None = getattr(parsed, provider)
        if section is None:
            continue
        account = Account(provider, section.sign_name, section.sdk_app_id, section.region,
                          section.variable_max_chars or DEFAULT_VARIABLE_MAX[provider],
                          tuple(section.phone_variables), section.frequency)
        for entries, found, incomplete in ((section.templates, account.templates, account.incomplete),
                                           (section.event_templates, account.events, account.events_incomplete)):
            for template_id, entry in entries.items():
                if isinstance(entry, str):
                    incomplete[template_id] = entry
                    continue
                variables = tuple(entry.variables) if provider == "tencent" else tuple(
                    dict.fromkeys(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", entry.text)))
                found[template_id] = Registered(provider, template_id, entry.code, entry.text, variables)
        registry.accounts[provider] = account
    return registry


# --- our templates as the providers see them ---------------------------------------------------

def template_variables(template: Template) -> list[str] | None:
    """The variables a template uses, in order of first appearance; None when it uses more than plain
    {{ name }} slots (conditions, filters, attributes), which no provider can register."""
    names = SIMPLE_VARIABLE.findall(template.text)
    if JINJA_SYNTAX.search(SIMPLE_VARIABLE.sub("", template.text)):
        return None
    return list(dict.fromkeys(names))


def wording(template: Template, provider: str, variables: list[str] | None = None) -> str | None:
    """Our template as the wording to register with `provider` (as rendered: lines joined)."""
    names = template_variables(template)
    if names is None:
        return None
    marks = marks_for(names)
    try:
        text = render(template, marks)
    except RenderError:
        return None
    return slotted(text, names, provider, variables)


def marks_for(names: list[str]) -> dict[str, str]:
    """Values that stand for each variable while rendering, found again by `slotted`."""
    return {name: f"\x00{name}\x00" for name in names}


def slotted(marked: str, names: list[str], provider: str, variables: list[str] | None = None) -> str:
    """A text rendered with `marks_for` values, in the provider's variable syntax: Aliyun ${name};
    Tencent {1}, {2}, ... in the order of `variables` (the registered order) or of first appearance."""
    order = variables or names
    text = marked
    for name in names:
        if provider == "tencent":
            slot = "{" + str(order.index(name) + 1) + "}" if name in order else "{?" + name + "}"
        else:
            slot = "${" + name + "}"
        text = text.replace(f"\x00{name}\x00", slot)
    return text


def params_for(template: Template, context: Mapping[str, Any]) -> dict[str, str] | None:
    """The variable values of an SMS or a spoken text as drafted, recorded with the message (None for
    other channels and for templates no provider can register): Aliyun voice reads registered TTS
    templates with variables, as its SMS does."""
    if template.channel not in ("sms", "voice"):
        return None
    names = template_variables(template)
    if names is None:
        return None
    return {name: str(context.get(name, "")) for name in names}


def value_problems(account: Account, name: str, value: str) -> list[str]:
    """What the provider refuses in one variable's value."""
    problems = []
    if len(value) > account.variable_max_chars:
        problems.append(f"variable {name} is {len(value)} characters ({value!r}); {account.provider} allows at most "
                        f"{account.variable_max_chars}")
    if "【" in value or "】" in value:
        problems.append(f"variable {name} holds 【】 ({value!r}), which providers refuse in variables")
    if URL.search(value):
        problems.append(f"variable {name} holds a web address ({value!r}); not allowed in variables")
    if PHONE.search(value) and name not in account.phone_variables:
        problems.append(f"variable {name} holds a phone number ({value!r}); register it as a phone-number "
                        "variable (phone_variables) or keep numbers in the fixed text")
    return problems
