"""The `alerts` command line. Each stage adds its commands from its own module here."""

from __future__ import annotations

import click

from alerts.cli import common, db, recipients, serve, users

# Import order is the order commands appear in `alerts --help`.
COMMAND_MODULES = (serve, common, db, users, recipients)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="alerts")
def cli() -> None:
    """Emergency science-communication (应急科普) alerts: warnings in, reviewed advice out."""


for module in COMMAND_MODULES:
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli(prog_name="alerts")
