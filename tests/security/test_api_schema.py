"""Property-based API tests from the service's own OpenAPI document (schemathesis), with every role.

For each role's token and each documented operation, schemathesis generates requests that fit the
schema (and, fewer, that do not) and checks every answer: no 5xx, a documented status, the
documented content type, and a body that matches the documented schema. Bounded: a few examples
per operation and role, so the whole run takes a few minutes on the shared machine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import config_dir as make_config
from tests.workflow.support import ROLES, build_world

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
POSITIVE, NEGATIVE = 15, 5  # examples per operation and role


@dataclass
class Running:
    base: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


def _serve(config: Path, url: str, running: Running, stop: threading.Event) -> None:
    async def main() -> None:
        from tests.web.conftest import serve

        world = await build_world(config, url, tokens=True)
        for level, ident in (("orange", "1"), ("yellow", "2"), ("red", "3")):
            await world.ingest(level=level, identifier=f"14058141600000_2026071205300{ident}")
        served, runner = await serve(world)
        running.base, running.tokens = served.base, dict(world.tokens)
        running.ready.set()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()
            await world.service.close()

    try:
        asyncio.run(main())
    except BaseException as exc:  # noqa: BLE001 - reported to the test thread
        running.error = exc
        running.ready.set()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("api-schema")
    config = make_config.__wrapped__(root)  # type: ignore[attr-defined]
    state, stop = Running(), threading.Event()
    thread = threading.Thread(target=_serve, args=(config, f"sqlite:///{root / 'api.db'}", state, stop), daemon=True)
    thread.start()
    assert state.ready.wait(120) and state.error is None, state.error
    yield state
    stop.set()
    thread.join(30)


def _exercise(schema: Any, base: str, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in ((schemathesis.GenerationMode.POSITIVE, POSITIVE),
                               (schemathesis.GenerationMode.NEGATIVE, NEGATIVE)):
            @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(mode))
            def call(case: Any) -> None:
                response = case.call(base_url=base, headers=headers, session=session, timeout=30)
                case.validate_response(response, checks=CHECKS)

            try:
                call()
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every operation is tried, failures listed together
                first = str(exc).strip().splitlines()[:12]
                failures.append(f"{operation.label} ({mode.value}): " + "\n    ".join(first))
    session.close()
    return failures


ONE_PER_ROLE = sorted({roles[0]: name for name, roles in sorted(ROLES.items())}.values())


@pytest.mark.parametrize("role_user", ONE_PER_ROLE, ids=lambda name: ROLES[name][0])
def test_every_answer_of_the_api_matches_its_document_for_every_role(running: Running, role_user: str) -> None:
    schema = schemathesis.openapi.from_url(f"{running.base}/api/v1/openapi.json")
    failures = _exercise(schema, running.base, {"Authorization": f"Bearer {running.tokens[role_user]}"})
    assert not failures, "\n".join(failures)


def test_without_a_token_every_operation_answers_as_documented(running: Running) -> None:
    schema = schemathesis.openapi.from_url(f"{running.base}/api/v1/openapi.json")
    assert not (failures := _exercise(schema, running.base, {})), "\n".join(failures)
