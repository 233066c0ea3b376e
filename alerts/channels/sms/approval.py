"""At approval: an SMS for a domestic provider must be a registered template, its text that wording filled in.

Refused with a clear message otherwise, so that nothing is approved that cannot go out, and nothing goes
out as a different text than the one approved. An edit may change what is in the variables only; the
values are read back from the edited text and sent as the template's parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alerts.channels.sms.templates import DOMESTIC, SmsRegistry, value_problems
from alerts.workflow.policy import Refused


class RegisteredGuard:
    def __init__(self, registry: SmsRegistry, providers: list[str]):
        self.registry = registry
        self.providers = [p for p in providers if p in DOMESTIC]

    def check(self, messages: Iterable[Any]) -> dict[int, dict[str, str]]:
        """Raise Refused for the first SMS that cannot go out as registered; return the variables of
        messages whose recorded ones must change (edited texts)."""
        updates: dict[int, dict[str, str]] = {}
        if not self.providers:
            return updates
        names = " / ".join(self.providers)
        for m in messages:
            if m.channel != "sms":
                continue
            registered = [r for r in (self.registry.get(p, m.template_id) for p in self.providers) if r]
            label = f"the {m.audience} SMS (message {m.id})"
            if not registered:
                raise Refused(f"{label} uses template {m.template_id}, which has no registered {names} code: "
                              "register its wording with the provider (alerts sms export-templates) and add the code "
                              "to config/sms_providers.yaml; it is never sent as a different text", 409)
            recorded = dict(m.params) if m.params is not None else None
            problems: list[str] = []
            for r in registered:
                params = recorded if recorded is not None and r.fill(recorded) == m.text else r.parse(m.text, prefer=recorded)
                if params is None:
                    problems.append(f"{r.provider}: the text is not the registered wording of {m.template_id} "
                                    "(only the variable parts may be edited)")
                    continue
                bad = [p for name, value in params.items()
                       for p in value_problems(self.registry.accounts[r.provider], name, value)]
                if bad:
                    problems.append(f"{r.provider}: " + "; ".join(bad))
                    continue
                if params != recorded:
                    updates[m.id] = params
                break
            else:
                raise Refused(f"{label} cannot go out through {names}: " + "; ".join(problems)
                              + " — undo the edit or register the new wording, then approve", 409)
        return updates


def guard_for(settings: Any) -> RegisteredGuard | None:
    """The guard when the service sends through a domestic provider, else None."""
    from alerts.channels.sms.build import selected_providers
    from alerts.channels.sms.templates import FILE, load_registry

    providers = selected_providers(settings)
    if not any(p in DOMESTIC for p in providers):
        return None
    return RegisteredGuard(load_registry(settings.config_dir / FILE), providers)
