"""Typed settings: config/*.yaml plus environment secrets, validated once, with one line per problem."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from alerts.settings.areas import AreasConfig
from alerts.settings.channels import ChannelsConfig
from alerts.settings.feeds import FeedsConfig
from alerts.settings.service import ServiceConfig
from alerts.settings.workflow import WorkflowConfig


class ConfigError(Exception):
    """Raised when configuration is invalid; `lines` holds one human-readable problem each."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


# Every config file the service reads, with the model that validates it. Files of later
# stages (routes, campaigns, hazards) are validated by their own stage modules, which
# register here so that `alerts check` sees everything.
FILE_MODELS: dict[str, type[BaseModel]] = {
    "service.yaml": ServiceConfig,
    "feeds.yaml": FeedsConfig,
    "areas.yaml": AreasConfig,
    "workflow.yaml": WorkflowConfig,
    "channels.yaml": ChannelsConfig,
}


@dataclass
class Secrets:
    """Secrets come only from the environment; never from files, never logged."""

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from: str | None = None
    twilio_api_base_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    encryption_key: str | None = None
    # Paths to the PEM key and certificate that sign published CAP (alerts/capsign.py).
    cap_signing_key: str | None = None
    cap_signing_cert: str | None = None
    metrics_token: str | None = None  # what Prometheus sends as its bearer token for /metrics
    link_secret: str | None = None  # signs one-click acknowledgement links (alerts/events/links.py)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Secrets:
        env = dict(os.environ if env is None else env)
        port = env.get("ALERTS_SMTP_PORT")
        return cls(
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN"),
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID"),
            twilio_from=env.get("TWILIO_FROM"),
            twilio_api_base_url=env.get("ALERTS_TWILIO_API_BASE_URL"),
            smtp_host=env.get("ALERTS_SMTP_HOST"),
            smtp_port=int(port) if port and port.isdigit() else None,
            smtp_username=env.get("ALERTS_SMTP_USERNAME"),
            smtp_password=env.get("ALERTS_SMTP_PASSWORD"),
            smtp_from=env.get("ALERTS_SMTP_FROM"),
            encryption_key=env.get("ALERTS_ENCRYPTION_KEY"),
            cap_signing_key=env.get("ALERTS_CAP_SIGNING_KEY"),
            cap_signing_cert=env.get("ALERTS_CAP_SIGNING_CERT"),
            metrics_token=env.get("ALERTS_METRICS_TOKEN"),
            link_secret=env.get("ALERTS_LINK_SECRET"),
        )

    @property
    def twilio_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def __repr__(self) -> str:  # never print secret values
        set_names = [k for k, v in self.__dict__.items() if v]
        return f"Secrets(set={set_names})"


@dataclass
class Settings:
    config_dir: Path
    service: ServiceConfig
    feeds: FeedsConfig
    areas: AreasConfig
    workflow: WorkflowConfig
    channels: ChannelsConfig
    database_url: str
    secrets: Secrets
    # Raw documents of the stage-owned files (routes.yaml, campaigns.yaml, hazards.yaml),
    # validated by their stages when the service is built.
    extra: dict[str, Any] = field(default_factory=dict)

    def path(self, relative: str) -> Path:
        """A path from config, resolved against the config directory."""
        p = Path(relative)
        return p if p.is_absolute() else (self.config_dir / p).resolve()

    @property
    def var_dir(self) -> Path:
        return self.path(self.service.var_dir)

    @property
    def templates_dir(self) -> Path:
        return self.path(self.service.templates_dir)


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def describe_validation_error(filename: str, err: ValidationError) -> list[str]:
    """One line per problem: file, key path, bad value, what is expected."""
    lines = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        value = e.get("input")
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        kind = e["type"]
        if kind == "extra_forbidden":
            lines.append(f"{filename}: {_loc(loc)}: unknown key — remove it or check its spelling")
        elif kind == "missing":
            lines.append(f"{filename}: {_loc(loc)}: missing — this key is required")
        else:
            lines.append(f"{filename}: {_loc(loc)}: {shown} — {e['msg'].lower()}")
    return lines


def read_yaml(path: Path, display: str) -> tuple[Any, list[str]]:
    """Read one YAML file; return (document, problems)."""
    if not path.is_file():
        return None, [f"{display}: missing file — expected it in the config directory"]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{display}: cannot be read ({exc.__class__.__name__}: {exc}) — save it as UTF-8"]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [f"{display}:{where}: not valid YAML ({problem}) — fix the syntax there"]
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        return None, [f"{display}: (top level): {type(doc).__name__} — expected a mapping of keys"]
    return doc, []


def validate_file(config_dir: Path, filename: str, model: type[BaseModel]) -> tuple[Any, list[str]]:
    display = str(config_dir / filename)
    doc, problems = read_yaml(config_dir / filename, display)
    if problems:
        return None, problems
    try:
        return model.model_validate(doc), []
    except ValidationError as err:
        return None, describe_validation_error(display, err)


M = TypeVar("M", bound=BaseModel)


def load_optional(settings: Settings, filename: str, model: type[M]) -> M:
    """An optional config file, validated once and kept in settings.extra; defaults when absent."""
    cached = settings.extra.get(filename)
    if isinstance(cached, model):
        return cached
    path = settings.config_dir / filename
    if not path.exists():
        config = model()
    else:
        doc, problems = read_yaml(path, str(path))
        if problems:
            raise ConfigError(problems)
        try:
            config = model.model_validate(doc)
        except ValidationError as err:
            raise ConfigError(describe_validation_error(str(path), err)) from None
    settings.extra[filename] = config
    return config


def load_settings(config_dir: str | Path, env: dict[str, str] | None = None) -> Settings:
    """Load and validate every config file; raise ConfigError listing every problem found."""
    config_dir = Path(config_dir)
    problems: list[str] = []
    if not config_dir.is_dir():
        raise ConfigError([f"{config_dir}: missing directory — pass --config DIR pointing at the config folder"])
    loaded: dict[str, Any] = {}
    for filename, model in FILE_MODELS.items():
        value, errs = validate_file(config_dir, filename, model)
        problems.extend(errs)
        loaded[filename] = value
    extra: dict[str, Any] = {}
    for filename in ("routes.yaml", "campaigns.yaml", "hazards.yaml"):
        if (config_dir / filename).exists():
            doc, errs = read_yaml(config_dir / filename, str(config_dir / filename))
            problems.extend(errs)
            extra[filename] = doc
    if problems:
        raise ConfigError(problems)
    environ = dict(os.environ if env is None else env)
    service: ServiceConfig = loaded["service.yaml"]
    db_url = environ.get("ALERTS_DATABASE_URL") or _relative_to(config_dir, service.database_url)
    settings = Settings(
        config_dir=config_dir.resolve(),
        service=service,
        feeds=loaded["feeds.yaml"],
        areas=loaded["areas.yaml"],
        workflow=loaded["workflow.yaml"],
        channels=loaded["channels.yaml"],
        database_url=db_url,
        secrets=Secrets.from_env(environ),
        extra=extra,
    )
    cross = cross_check(settings)
    # Optional files of later stages are validated now too, so start-up refuses them early.
    from alerts.settings.chains import chains_config
    from alerts.settings.departments import departments_config
    from alerts.settings.events import events_config
    from alerts.settings.notices import notices_config
    from alerts.settings.retention import retention_config

    for loader in (notices_config, retention_config, chains_config, events_config, departments_config):
        try:
            loader(settings)
        except ConfigError as exc:
            cross.extend(exc.lines)
    if cross:
        raise ConfigError(cross)
    return settings


def _relative_to(config_dir: Path, url: str) -> str:
    """A relative SQLite path in service.yaml means relative to the config folder, like every other path."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix):]).is_absolute():
        return prefix + str((config_dir / url[len(prefix):]).resolve())
    return url


def cross_check(settings: Settings) -> list[str]:
    """Checks that span files: references between sections that pydantic cannot see alone."""
    problems: list[str] = []
    cfg = settings.config_dir
    if not settings.templates_dir.is_dir():
        problems.append(
            f"{cfg / 'service.yaml'}: templates_dir: {settings.service.templates_dir!r} — "
            f"no such directory ({settings.templates_dir})"
        )
    for i, feed in enumerate(settings.feeds.feeds):
        if feed.kind == "directory" and feed.path and not settings.path(feed.path).is_dir():
            problems.append(
                f"{cfg / 'feeds.yaml'}: feeds[{i}].path: {feed.path!r} — no such directory"
            )
    from alerts.recipients import normalise_phone

    for i, phone in enumerate(settings.workflow.test_audience.phones):
        if normalise_phone(phone) is None:
            problems.append(
                f"{cfg / 'workflow.yaml'}: test_audience.phones[{i}]: {phone!r} — not a valid phone number (use E.164, e.g. +8613800000000)"
            )
    if not (settings.database_url.startswith("sqlite:") or settings.database_url.startswith("postgresql")):
        problems.append(
            f"ALERTS_DATABASE_URL / service.yaml database_url: {settings.database_url!r} — "
            "expected sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        )
    return problems
