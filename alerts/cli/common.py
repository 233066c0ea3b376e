"""Helpers every command uses: load settings with clean errors, run async code, open the service."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from alerts.settings import ConfigError, Settings, load_settings

T = TypeVar("T")

config_option = click.option(
    "--config", "config_dir", default="config", show_default=True, type=click.Path(path_type=Path),
    help="Folder with service.yaml, feeds.yaml, areas.yaml, routes.yaml, ...",
)


def fail(lines: list[str] | str, code: int = 2) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


def settings_or_exit(config_dir: Path) -> Settings:
    try:
        return load_settings(config_dir)
    except ConfigError as exc:
        fail(exc.lines)
        raise AssertionError from exc  # unreachable


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def build_or_exit(settings: Settings, **kwargs: Any):  # type: ignore[no-untyped-def]
    """Build the service; configuration problems found while building end the command cleanly."""
    from alerts.app import Service
    from alerts.content.library import LibraryError

    try:
        return Service(settings, **kwargs)
    except ConfigError as exc:
        fail(exc.lines)
    except LibraryError as exc:
        fail(exc.problems)
    except ValueError as exc:
        fail(str(exc).splitlines())
    raise AssertionError  # unreachable


def router_or_exit(settings: Settings):  # type: ignore[no-untyped-def]
    """The service's router, offline; configuration problems end the command cleanly."""
    from alerts.content.library import LibraryError
    from alerts.routing import build_router

    try:
        return build_router(settings)
    except ConfigError as exc:
        fail(exc.lines)
    except LibraryError as exc:
        fail(exc.problems)
    raise AssertionError  # unreachable


@click.command()
@config_option
@click.option("--production", is_flag=True,
              help="Also refuse templates whose review is a shipped example (（示例）), not a real sign-off.")
def check(config_dir: Path, production: bool) -> None:
    """Validate the configuration and the template library without starting anything."""
    from alerts.checks import run_checks

    settings = settings_or_exit(config_dir)
    problems = run_checks(settings)
    if production:
        from alerts.content.library import Library
        from alerts.content.lint import placeholder_reviews

        problems.extend(placeholder_reviews(Library.load(settings.templates_dir, strict=False)))
    if problems:
        fail(problems, code=1)
    click.echo(f"ok: configuration in {settings.config_dir} and templates in {settings.templates_dir} are valid")


COMMANDS = [check]
