"""Runbooks stay true: every `alerts` command in them exists with its options, the read-only ones run
against a temporary deployment, and every API path they call is served."""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from alerts.cli import cli as alerts_cli
from alerts.web.app import route_modules
from tests.ops.helpers import ROOT, SAMPLE, base_env, cli, user_with_token

RUNBOOKS = ROOT / "runbooks"
# Commands that only read (or, for backup, write a new file elsewhere): these are run for real.
READ_ONLY = {("check",), ("db", "status"), ("db", "backup"), ("feeds", "status"), ("outbox", "status"),
             ("audit", "show"), ("audit", "verify"), ("users", "list"), ("routes", "test"), ("ingest",),
             ("templates", "lint")}
REQUIRED_SECTIONS = ("## Symptoms", "## Check", "## Act", "## Verify")


@dataclass(frozen=True)
class Command:
    runbook: str
    line: str

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.line)


def commands() -> list[Command]:
    found = []
    for book in sorted(RUNBOOKS.glob("*.md")):
        text = book.read_text(encoding="utf-8")
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                if line.startswith(("alerts ", "curl ")):
                    found.append(Command(book.name, line))
    return found


def resolve(argv: list[str]) -> tuple[tuple[str, ...], click.Command, list[str]]:
    """Walk the click groups: (command path, command, remaining args); fails on an unknown command."""
    assert argv[0] == "alerts"
    command: click.Command = alerts_cli
    path: list[str] = []
    rest = argv[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"`alerts {' '.join(path + [rest[0]])}` does not exist"
        command, path, rest = sub, path + [rest[0]], rest[1:]
    return tuple(path), command, rest


ALERTS = [c for c in commands() if c.line.startswith("alerts ")]
CURLS = [c for c in commands() if c.line.startswith("curl ")]


def test_every_runbook_is_indexed_and_has_symptoms_checks_actions_and_verification() -> None:
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    books = [p for p in sorted(RUNBOOKS.glob("*.md")) if p.name != "README.md"]
    assert len(books) >= 10
    for book in books:
        assert f"]({book.name})" in index, f"{book.name} is not listed in runbooks/README.md"
        text = book.read_text(encoding="utf-8")
        for section in REQUIRED_SECTIONS[1:]:
            assert section in text, f"{book.name} lacks {section}"
        assert "```sh" in text, f"{book.name} has no exact commands"


@pytest.mark.parametrize("command", ALERTS, ids=lambda c: f"{c.runbook}:{c.line[:60]}")
def test_each_alerts_command_in_the_runbooks_exists_with_its_options(command: Command) -> None:
    path, cmd, rest = resolve(command.argv)
    assert not isinstance(cmd, click.Group), f"`{command.line}` names a group, not a command"
    options = {opt for p in cmd.params if isinstance(p, click.Option) for opt in p.opts + p.secondary_opts}
    options |= {"--help", "-h"}
    for token in rest:
        if token.startswith("--"):
            assert token.split("=")[0] in options, f"`{command.line}`: {token} is not an option of alerts {' '.join(path)}"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A deployment directory like a host's: config/, the demo samples, var/, and a migrated database."""
    from tests.conftest import config_dir as make_config  # the shared fixture's logic, reused

    root = tmp_path_factory.mktemp("host")
    cfg = make_config.__wrapped__(root)  # type: ignore[attr-defined]
    assert cfg == root / "config"
    shutil.copytree(ROOT / "alerts" / "demo" / "samples", root / "alerts" / "demo" / "samples")
    (root / "var").mkdir(exist_ok=True)
    shutil.copy(SAMPLE, root / "var" / "rejected.xml")  # the document `alerts ingest` is shown on
    env = base_env(f"sqlite:///{root / 'var' / 'alerts.db'}")
    cli(["db", "upgrade"], env, cwd=root)
    token = user_with_token("duty.approver", "approver", env, cwd=root)
    (root / "var" / "token").write_text(token, encoding="utf-8")
    return root, env


@pytest.mark.parametrize("command", [c for c in ALERTS if resolve(c.argv)[0] in READ_ONLY or "--help" in c.argv],
                         ids=lambda c: f"{c.runbook}:{c.line[:60]}")
def test_read_only_runbook_commands_run_against_a_temporary_deployment(
        command: Command, deployment: tuple[Path, dict[str, str]]) -> None:
    root, env = deployment
    argv = command.argv[1:]
    if resolve(command.argv)[0] == ("db", "backup"):
        target = root / argv[2]
        target.unlink(missing_ok=True)
    result = cli(argv, env, cwd=root, check=False)
    output = result.stdout + result.stderr
    # 0, or 1 for a command that reports a problem it found (a stale feed); never a usage error or a crash.
    assert result.returncode in (0, 1), f"`{command.line}` exited {result.returncode}:\n{output}"
    assert "Traceback" not in output and "No such" not in output and output.strip()


def served_routes() -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for module in route_modules():
        for route in module.routes:  # type: ignore[attr-defined]
            pattern = re.sub(r"\{[^}]+\}", "[^/]+", route.path.replace(r"\.", "."))
            found.append((route.method, re.compile(f"^{pattern}$")))
    return found


@pytest.mark.parametrize("command", CURLS, ids=lambda c: f"{c.runbook}:{c.line[:60]}")
def test_each_api_call_in_the_runbooks_is_a_served_route(command: Command) -> None:
    argv = command.argv
    method = argv[argv.index("-X") + 1] if "-X" in argv else "GET"
    [url] = [a for a in argv if a.startswith("http")]
    path = re.sub(r"^https?://[^/]+", "", url).split("?")[0]
    assert any(m == method and p.match(path) for m, p in served_routes()), f"{method} {path} is not served"


async def test_read_only_api_calls_in_the_runbooks_answer(deployment: tuple[Path, dict[str, str]]) -> None:
    import aiohttp
    from aiohttp import web

    from alerts.app import Service
    from alerts.settings import load_settings
    from alerts.web.app import make_app
    from alerts.web.health import BACKGROUND_KEY
    from tests.ops.helpers import free_port

    root, env = deployment
    token = (root / "var" / "token").read_text(encoding="utf-8")

    class Running:
        running = True

    service = Service(load_settings(root / "config", env={"ALERTS_DATABASE_URL": env["ALERTS_DATABASE_URL"]}))
    app = make_app(service)
    app[BACKGROUND_KEY] = Running()
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ran = 0
    try:
        async with aiohttp.ClientSession() as http:
            for command in CURLS:
                argv = command.argv
                url = next(a for a in argv if a.startswith("http"))
                if "-X" in argv or re.search(r"[A-Z]+_ID", url):
                    continue  # changes state, or needs a real id: checked as a route above
                async with http.get(url.replace("127.0.0.1:8080", f"127.0.0.1:{port}"),
                                    headers={"Authorization": f"Bearer {token}"}) as r:
                    assert r.status == 200, f"{command.runbook}: `{command.line}` answered {r.status}"
                    ran += 1
    finally:
        await runner.cleanup()
        await service.close()
    assert ran >= 4
