"""The `alerts` command line. Each stage adds its commands from its own module in this package.

A module here takes part by defining `COMMANDS` (a list of click commands); commands of later
stages appear only once their module exists, so `alerts --help` lists only what works.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="alerts")
def cli() -> None:
    """Emergency science-communication (应急科普) alerts: warnings in, reviewed advice out."""


def _command_modules() -> list[object]:
    modules = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "COMMANDS"):
            modules.append(module)
    return modules


for _module in _command_modules():
    for _command in _module.COMMANDS:  # type: ignore[attr-defined]
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="alerts")
