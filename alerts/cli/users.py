"""`alerts users` and `alerts tokens`: people and API access."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit
from alerts.store import users as user_store
from alerts.store.engine import Database
from alerts.store.migrate import upgrade
from alerts.workflow import audit


def _read_password(generate: bool) -> tuple[str, bool]:
    if generate or sys.stdin is None or sys.stdin.isatty():
        if not generate and sys.stdin is not None and sys.stdin.isatty():
            pw = click.prompt("Password", hide_input=True, confirmation_prompt=True)
            return pw, False
        return secrets.token_urlsafe(12), True
    pw = sys.stdin.readline().rstrip("\n")
    if not pw:
        return secrets.token_urlsafe(12), True
    return pw, False


@click.group()
def users() -> None:
    """Console and API users."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role from workflow.yaml; repeat for several.")
@click.option("--display-name", default="", help="Name shown in the console, e.g. 张三（应急局）.")
@click.option("--phone", default=None, help="Phone for duty notifications (E.164).")
@click.option("--generate-password", is_flag=True, help="Generate a one-time password and print it.")
@click.option("--if-missing", is_flag=True, help="Do nothing (exit 0) if the user exists.")
@config_option
def add(name: str, roles: tuple[str, ...], display_name: str, phone: str | None, generate_password: bool,
        if_missing: bool, config_dir: Path) -> None:
    """Add a user. The password is read from stdin, or generated and printed once."""
    settings = settings_or_exit(config_dir)
    unknown = [r for r in roles if r not in settings.workflow.roles]
    if unknown:
        fail(f"unknown role(s) {', '.join(unknown)}: expected one of {', '.join(settings.workflow.roles)}")
    if phone is not None:
        from alerts.recipients import normalise_phone

        normal = normalise_phone(phone)
        if normal is None:
            fail(f"--phone {phone!r} is not a valid phone number")
        phone = normal
    password, generated = _read_password(generate_password)
    if len(password) < 10:
        fail("the password is too short: use at least 10 characters")

    async def go() -> bool:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            from alerts.clock import Clock

            now = Clock().now()
            async with database.write() as conn:
                if await user_store.by_name(conn, name) is not None:
                    return False
                await user_store.add(conn, name, list(roles), password, at=now, display_name=display_name, phone=phone)
                await audit.append(conn, at=now, actor="cli", action="user.added", target=f"user:{name}", origin="cli",
                                   after={"roles": list(roles)})
            return True
        finally:
            await database.close()

    created = run(go)
    if not created:
        if if_missing:
            click.echo(f"user {name} exists; unchanged")
            return
        fail(f"user {name} exists already")
    click.echo(f"added user {name} with roles {', '.join(roles)}")
    if generated:
        click.echo(f"one-time password for {name}: {password}")


@users.command("disable")
@click.argument("name")
@config_option
def disable(name: str, config_dir: Path) -> None:
    """Disable a user: their sessions end and their tokens stop working."""
    settings = settings_or_exit(config_dir)

    async def go() -> bool:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            from alerts.clock import Clock

            async with database.write() as conn:
                ok = await user_store.set_disabled(conn, name, True)
                if ok:
                    await audit.append(conn, at=Clock().now(), actor="cli", action="user.disabled",
                                       target=f"user:{name}", origin="cli")
                return ok
        finally:
            await database.close()

    if not run(go):
        fail(f"no user {name}")
    click.echo(f"disabled user {name}")


@users.command("list")
@config_option
def list_users(config_dir: Path) -> None:
    """List users and their roles."""
    settings = settings_or_exit(config_dir)

    async def go() -> list[user_store.User]:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with database.read() as conn:
                return await user_store.all_users(conn)
        finally:
            await database.close()

    for u in run(go):
        click.echo(f"{u.name}\t{','.join(u.roles)}\t{'disabled' if u.disabled else 'active'}")


@click.group()
def tokens() -> None:
    """API tokens."""


@tokens.command("create")
@click.argument("name")
@click.option("--label", default="api", show_default=True, help="What the token is for.")
@config_option
def create_token(name: str, label: str, config_dir: Path) -> None:
    """Create an API token for user NAME; the token is printed once, as the last line."""
    settings = settings_or_exit(config_dir)

    async def go() -> str | None:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            from alerts.clock import Clock

            now = Clock().now()
            async with database.write() as conn:
                user = await user_store.by_name(conn, name)
                if user is None or user.disabled:
                    return None
                token = await user_store.create_token(conn, user, label, at=now)
                await audit.append(conn, at=now, actor="cli", action="token.created", target=f"user:{name}",
                                   origin="cli", after={"label": label})
                return token
        finally:
            await database.close()

    token = run(go)
    if token is None:
        fail(f"no active user {name}: add it first with `alerts users add {name} --role ROLE`")
    click.echo(f"token for {name} ({label}); keep it secret, it is shown only now:")
    click.echo(token)


COMMANDS = [users, tokens]
