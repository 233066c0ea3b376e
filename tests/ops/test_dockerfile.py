"""The container: the Dockerfile is checked for what matters (slim, multi-stage, non-root, no compilers,
python health check) and its install and start commands are run outside a container (no Docker engine
here): the same `pip install .` into a virtualenv, then the exact CMD with a mounted-style config,
answering /healthz and the HEALTHCHECK command."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.ops.helpers import ROOT, base_env, free_port, set_yaml_value, wait_http

DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAMES = re.compile(r"(TOKEN|PASSWORD|SECRET|_KEY|ACCOUNT_SID)")


@dataclass
class Stage:
    base: str
    name: str | None
    steps: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for ins, args in self.steps if ins == instruction]


def parse(text: str) -> list[Stage]:
    """Instructions by stage, with line continuations joined and comments dropped."""
    stages: list[Stage] = []
    logical = re.sub(r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#")))
    for line in logical.splitlines():
        if not line.strip():
            continue
        instruction, _, args = line.strip().partition(" ")
        instruction, args = instruction.upper(), " ".join(args.split())
        if instruction == "FROM":
            parts = args.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None))
        else:
            stages[-1].steps.append((instruction, args))
    return stages


def env_pairs(args: str) -> list[tuple[str, str]]:
    return [tuple(item.split("=", 1)) for item in shlex.split(args)]  # type: ignore[misc]


STAGES = parse(DOCKERFILE.read_text(encoding="utf-8"))
FINAL = STAGES[-1]


def test_the_image_is_multi_stage_on_slim_python_311() -> None:
    assert len(STAGES) >= 2
    assert all(s.base == "python:3.11-slim" for s in STAGES)
    assert STAGES[0].name == "build"


def test_the_final_image_runs_as_a_non_root_user_without_compilers_or_installers() -> None:
    users = FINAL.all("USER")
    assert users and users[-1] not in ("root", "0"), "the service must not run as root"
    last_user = max(i for i, (ins, _) in enumerate(FINAL.steps) if ins == "USER")
    assert all(ins != "RUN" for ins, _ in FINAL.steps[last_user:]), "nothing runs as root after USER"
    final_text = " ".join(args for _, args in FINAL.steps)
    for word in ("gcc", "build-essential", "apt-get install", "pip install", "cc ", "make "):
        assert word not in final_text, f"the final stage must not install or compile ({word!r})"
    venv_copies = [a for a in FINAL.all("COPY") if a.startswith("--from=build")]
    assert venv_copies, "the final stage takes the virtualenv from the build stage"
    for copy in venv_copies:
        _, src, dest = copy.split()
        assert src == dest, "the virtualenv keeps its path: its scripts name their interpreter by path"


def test_config_is_mounted_secrets_come_from_the_environment_and_var_is_a_volume() -> None:
    assert "/srv/alerts/var" in FINAL.all("VOLUME")[0]
    assert FINAL.all("WORKDIR")[-1] == "/srv/alerts"  # `--config config` (the default) is /srv/alerts/config
    for stage in STAGES:
        for args in stage.all("ENV"):
            for name, _ in env_pairs(args):
                assert not SECRET_NAMES.search(name), f"{name} is a secret: it must come from the runtime environment"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for needed in (".venv", "var", ".git", "*.db", "tests"):
        assert needed in ignored, f".dockerignore should exclude {needed}"


def test_the_health_check_uses_python_not_curl_and_the_command_serves_on_all_interfaces() -> None:
    [health] = FINAL.all("HEALTHCHECK")
    assert "curl" not in health and "wget" not in health
    assert '"python"' in health and "/healthz" in health
    assert json.loads(FINAL.all("CMD")[-1]) == ["alerts", "serve", "--host", "0.0.0.0"]


def dockerignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


class Emulator:
    """Runs a Dockerfile's steps on this machine, container paths mapped under one temporary root."""

    def __init__(self, root: Path):
        self.root = root
        self.env: dict[str, str] = {}
        self.workdir = "/"
        self.bin = root / "_python"
        self.bin.mkdir(parents=True)
        # `python` in RUN lines is the image's interpreter: here, the base Python 3.11 of the test venv.
        (self.bin / "python").symlink_to(getattr(sys, "_base_executable", sys.executable))
        self.ignore = [p for p in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
                       if not p.startswith("#")]

    def host(self, container_path: str) -> Path:
        path = container_path if container_path.startswith("/") else f"{self.workdir}/{container_path}"
        return self.root / path.lstrip("/")

    def map_text(self, text: str) -> str:
        # /opt, /srv, /src at the start of a path (also after sqlite:///), never inside one (/usr/src).
        return re.sub(r"(?<!\w)/(opt|srv|src)(?=/|\b)", lambda m: str(self.root / m[1]), text)

    def copy(self, args: str) -> None:
        parts = args.split()
        if parts[0].startswith("--from="):
            return  # same mapped path in both stages (checked above)
        parts = [p for p in parts if not p.startswith("--")]
        *sources, dest = parts
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: not in the build context"
            assert not dockerignored(src, self.ignore), f"COPY {src}: excluded by .dockerignore"
            target = self.host(dest)
            if (ROOT / src).is_dir():
                shutil.copytree(ROOT / src, target if not dest.endswith("/") or len(sources) == 1 else target / src,
                                dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                target.mkdir(parents=True, exist_ok=True) if dest.endswith("/") else target.parent.mkdir(
                    parents=True, exist_ok=True)
                shutil.copy(ROOT / src, target / Path(src).name if dest.endswith("/") else target)

    def run(self, command: str, stage: Stage) -> None:
        env = {**os.environ, **self.env, "PATH": f"{self.bin}:{self.env.get('PATH', os.environ['PATH'])}",
               # Offline: no package index. Dependencies come from the test venv (linked below); the
               # project itself is built without an isolated build environment.
               "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0"}
        for part in command.split(" && "):
            if part.split()[0] in ("useradd", "chown"):
                continue  # needs root; the user it creates is checked statically (USER)
            cwd = self.host(self.workdir)
            cwd.mkdir(parents=True, exist_ok=True)
            proc = subprocess.run(self.map_text(part), shell=True, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert proc.returncode == 0, f"RUN {part}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            venv = re.match(r"python -m venv (\S+)$", part)
            if venv:
                self.link_dependencies(self.host(venv[1]))

    def link_dependencies(self, venv: Path) -> None:
        deps = self.root / "_deps"
        deps.mkdir(exist_ok=True)
        site = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()))
        for entry in site.iterdir():
            if re.match(r"(alerts|__editable__|pip\b|pip-|distutils-precedence)", entry.name):
                continue  # not the project itself (it is what gets installed), nor the venv's own pip
            (deps / entry.name).symlink_to(entry)
        [target_site] = list(venv.glob("lib/python3*/site-packages"))
        # First on sys.path, so the build backend is the test venv's setuptools (build-system.requires),
        # not the older one `python -m venv` bundles; pip would fetch it into an isolated build env online.
        (target_site / "_test_dependencies.pth").write_text(f"import sys; sys.path.insert(0, {str(deps)!r})\n",
                                                            encoding="utf-8")

    def build(self) -> None:
        for stage in STAGES:
            self.env, self.workdir = {}, "/"
            for instruction, args in stage.steps:
                if instruction == "WORKDIR":
                    self.workdir = args
                elif instruction == "ENV":
                    for name, value in env_pairs(args):
                        value = value.replace("$PATH", os.environ["PATH"])
                        self.env[name] = self.map_text(value)
                elif instruction == "COPY":
                    self.copy(args)
                elif instruction == "RUN":
                    self.run(args, stage)


@pytest.mark.timeout(600)
def test_the_install_and_start_commands_run_and_the_service_answers_its_health_check(tmp_path: Path) -> None:
    image = Emulator(tmp_path / "image")
    image.build()
    app = image.host(FINAL.all("WORKDIR")[-1])
    installed = subprocess.run([str(image.host("/opt/alerts/bin/python")), "-c",
                                "import alerts, pathlib; print(pathlib.Path(alerts.__file__).parent)"],
                               capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert installed.returncode == 0, installed.stderr
    assert str(image.root) in installed.stdout, "the service runs from the installed package, not the source tree"

    # The operator's mounted config: the example, on a free port (the container would keep 8080).
    port = free_port()
    set_yaml_value(app / "config" / "service.yaml", r"^  port: .*$", f"  port: {port}")
    env = {**{k: v for k, v in base_env("").items() if k != "ALERTS_DATABASE_URL"}, **image.env}
    (app / "var").mkdir(exist_ok=True)
    cmd = json.loads(FINAL.all("CMD")[-1])
    proc = subprocess.Popen(cmd, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz", 90, proc) == 200
        health = json.loads(FINAL.all("HEALTHCHECK")[0].split("CMD", 1)[1].strip())
        health = [a.replace(":8080/", f":{port}/") for a in health]
        check = subprocess.run(health, cwd=app, env=env, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        assert wait_http(f"http://127.0.0.1:{port}/readyz", 60, proc) == 200
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-3000:]
        assert (app / "var" / "alerts.db").exists(), "the database lives in the var/ volume"
        first = json.loads(err.splitlines()[0])
        assert first["level"] and first["logger"], "logs are JSON lines in the container (ALERTS_LOG_FORMAT)"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_compose_runs_postgresql_a_migration_two_replicas_and_optional_workers() -> None:
    from tests.ops.test_runbooks import resolve

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    replicas = [s for s in services.values() if s.get("command", [])[:2] == ["alerts", "serve"]]
    assert len(replicas) >= 2
    assert len({r["ports"][0] for r in replicas}) == len(replicas)
    assert services["migrate"]["command"] == ["alerts", "db", "upgrade"]
    for r in replicas:
        assert r["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["profiles"] == ["worker"] and services["worker"]["command"] == ["alerts", "worker"]
    for name, svc in services.items():
        if name == "db":
            continue
        resolve(svc["command"])  # every command exists in the CLI
        env = svc["environment"]
        assert env["ALERTS_DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["ALERTS_DATABASE_URL"]
        for key, value in env.items():
            if SECRET_NAMES.search(key) or key == "ALERTS_DATABASE_URL":
                assert "${" in str(value), f"{name}: {key} must come from the environment, not the file"
        assert "./config:/srv/alerts/config:ro" in svc["volumes"]
