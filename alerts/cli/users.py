"""`alerts users` and `alerts tokens`: people and API access, from the server operator's shell.

No password is ever printed or typed in for someone else: `users add` and `users reset` print a
one-time link with which the person sets their own password (`users enrol` redeems it on the
command line). `tokens create NAME` asks for NAME's own password, so only NAME makes NAME's tokens;
a machine account's operator enrols it once and creates its token the same way (or in the
console under 我的账号). Whoever runs these commands holds the database anyway, so roles are
granted directly (the console's two-person rule is for administrators without that access);
every action is audited with the operating-system user.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from alerts.cli.common import config_option, fail, run, settings_or_exit
from alerts.clock import Clock
from alerts.security import accounts
from alerts.settings import Settings
from alerts.store import users as user_store
from alerts.store.engine import Database
from alerts.store.migrate import upgrade
from alerts.workflow import audit

T = TypeVar("T")


def _origin() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:200]
    except (KeyError, OSError):  # no name for this uid (some containers)
        return "cli"


def _with_db(settings: Settings, work: Callable[[Any], Awaitable[T]], *, write: bool = True) -> T:
    async def go() -> T:
        database = Database(settings.database_url)
        try:
            await upgrade(database)
            async with (database.write() if write else database.read()) as conn:
                return await work(conn)
        finally:
            await database.close()

    return run(go)


def _secret(prompt: str, *, confirm: bool) -> str:
    """A password typed at a terminal (hidden), or the first line of standard input."""
    if sys.stdin is not None and sys.stdin.isatty():
        return str(click.prompt(prompt, hide_input=True, confirmation_prompt=confirm))
    return (sys.stdin.readline() if sys.stdin is not None else "").rstrip("\n")


def _link_lines(settings: Settings, name: str, code: str) -> None:
    hours = settings.service.accounts.enrolment_hours
    click.echo(f"give {name} this one-time link to set their own password (valid {hours:g} h, works once; "
               f"or they run `alerts users enrol LINK`):")
    click.echo(accounts.enrol_link(settings, code))


@click.group()
def users() -> None:
    """Console and API users."""


@users.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role from workflow.yaml; repeat for several.")
@click.option("--display-name", default="", help="Name shown in the console, e.g. 张三（应急局）.")
@click.option("--phone", default=None, help="Phone for duty notifications (E.164).")
@click.option("--if-missing", is_flag=True, help="Do nothing (exit 0) if the user exists.")
@config_option
def add(name: str, roles: tuple[str, ...], display_name: str, phone: str | None, if_missing: bool,
        config_dir: Path) -> None:
    """Add a user; prints a one-time link with which they set their own password (last line)."""
    settings = settings_or_exit(config_dir)
    problem = user_store.name_problem(name)
    if problem:
        fail(problem)
    unknown = [r for r in roles if r not in settings.workflow.roles]
    if unknown:
        fail(f"unknown role(s) {', '.join(unknown)}: expected one of {', '.join(settings.workflow.roles)}")
    if phone is not None:
        from alerts.recipients import normalise_phone

        normal = normalise_phone(phone)
        if normal is None:
            fail(f"--phone {phone!r} is not a valid phone number")
        phone = normal

    try:
        accounts.check_display_name(display_name)
    except accounts.AccountRefused as exc:
        fail(f"--display-name: {exc}")

    async def work(conn: Any) -> accounts.Outcome | None:
        if await user_store.by_name(conn, name) is not None:
            return None
        return await accounts.create(conn, settings, name=name, roles=list(roles), display_name=display_name,
                                     phone=phone, by="cli", origin=_origin(), at=Clock().now(), operator=True)

    outcome = _with_db(settings, work)
    if outcome is None:
        if if_missing:
            click.echo(f"user {name} exists; unchanged (a new link: alerts users reset {name})")
            return
        fail(f"user {name} exists already")
        return
    click.echo(f"added user {name} with roles {', '.join(roles)}")
    assert outcome.code is not None
    _link_lines(settings, name, outcome.code)


@users.command("enrol")
@click.argument("link")
@config_option
def enrol(link: str, config_dir: Path) -> None:
    """Set your own password with the one-time LINK (or its code); the password is read from the terminal or stdin."""
    settings = settings_or_exit(config_dir)
    code = link.rstrip("/").rsplit("/", 1)[-1]
    password = _secret("New password", confirm=True)

    async def work(conn: Any) -> tuple[str, str]:
        try:
            return (await accounts.enrol(conn, code, password, origin=_origin(), at=Clock().now())).name, ""
        except accounts.AccountRefused as exc:
            return "", str(exc)

    name, problem = _with_db(settings, work)
    if problem:
        fail(problem)
    click.echo(f"password set for {name}; sign in at {settings.service.http.public_base_url.rstrip('/')}/login")


@users.command("reset")
@click.argument("name")
@config_option
def reset(name: str, config_dir: Path) -> None:
    """Revoke NAME's password, tokens, sessions and devices; prints a new one-time link for them."""
    settings = settings_or_exit(config_dir)

    async def work(conn: Any) -> accounts.Outcome | None:
        user = await user_store.by_name(conn, name)
        if user is None:
            return None
        return await accounts.reset(conn, settings, user, by="cli", origin=_origin(), at=Clock().now(), operator=True)

    outcome = _with_db(settings, work)
    if outcome is None or outcome.code is None:
        fail(f"no user {name}")
        return
    click.echo(f"reset {name}: password, API tokens, sessions and remembered devices no longer work")
    _link_lines(settings, name, outcome.code)


def _set_disabled(config_dir: Path, name: str, disabled: bool) -> None:
    settings = settings_or_exit(config_dir)

    async def work(conn: Any) -> bool:
        ok = await user_store.set_disabled(conn, name, disabled)
        if ok:
            await audit.append(conn, at=Clock().now(), actor="cli", action="user.disabled" if disabled else
                               "user.enabled", target=f"user:{name}", origin=_origin())
        return ok

    if not _with_db(settings, work):
        fail(f"no user {name}")
    click.echo(f"{'disabled' if disabled else 'enabled'} user {name}")


@users.command("disable")
@click.argument("name")
@config_option
def disable(name: str, config_dir: Path) -> None:
    """Disable a user: their sessions end and their tokens are revoked for good."""
    _set_disabled(config_dir, name, True)


@users.command("enable")
@click.argument("name")
@config_option
def enable(name: str, config_dir: Path) -> None:
    """Enable a user again (tokens revoked before stay revoked)."""
    _set_disabled(config_dir, name, False)


@users.command("list")
@config_option
def list_users(config_dir: Path) -> None:
    """List users, their roles and state (active, disabled, or waiting to set a password)."""
    settings = settings_or_exit(config_dir)

    async def work(conn: Any) -> list[tuple[user_store.User, bool]]:
        return [(u, await user_store.enrolled(conn, u.id)) for u in await user_store.all_users(conn)]

    for u, enrolled in _with_db(settings, work, write=False):
        state = "disabled" if u.disabled else ("active" if enrolled else "not enrolled")
        click.echo(f"{u.name}\t{','.join(u.roles)}\t{state}")


@click.group()
def tokens() -> None:
    """API tokens: only their owner creates them."""


@tokens.command("create")
@click.argument("name")
@click.option("--label", default="api", show_default=True, help="What the token is for.")
@config_option
def create_token(name: str, label: str, config_dir: Path) -> None:
    """Create an API token for yourself (NAME): asks NAME's password; the token is printed once, as the last line."""
    settings = settings_or_exit(config_dir)
    password = _secret(f"Password of {name}", confirm=False)

    async def work(conn: Any) -> str | None:
        outcome = await user_store.check_login(conn, name, password)
        if outcome.user is None:
            return None
        now = Clock().now()
        token = await user_store.create_token(conn, outcome.user, label[:100], at=now)
        await audit.append(conn, at=now, actor=name, action="token.created", target=f"user:{name}",
                           origin=_origin(), after={"label": label[:100]})
        return token

    token = _with_db(settings, work)
    if token is None:
        fail(f"no active user {name} with that password: only the owner creates their tokens "
             f"(a new user first sets a password: alerts users enrol LINK)")
    click.echo(f"token for {name} ({label}); keep it secret, it is shown only now:")
    click.echo(token)


@tokens.command("list")
@click.argument("name")
@config_option
def list_tokens(name: str, config_dir: Path) -> None:
    """NAME's tokens: id, label, created, last used, revoked (never the token itself)."""
    settings = settings_or_exit(config_dir)

    async def work(conn: Any) -> list[user_store.TokenInfo] | None:
        user = await user_store.by_name(conn, name)
        return None if user is None else await user_store.tokens_of(conn, user.id)

    found = _with_db(settings, work, write=False)
    if found is None:
        fail(f"no user {name}")
        return
    for t in found:
        used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
        click.echo(f"{t.id}\t{t.name}\t{t.created_at.isoformat(timespec='seconds')}\t{used}\t"
                   f"{'revoked' if t.revoked else 'active'}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@config_option
def revoke_token(token_id: int, config_dir: Path) -> None:
    """Revoke one token by its id (alerts tokens list NAME)."""
    settings = settings_or_exit(config_dir)

    async def work(conn: Any) -> bool:
        ok = await user_store.revoke_token(conn, token_id)
        if ok:
            await audit.append(conn, at=Clock().now(), actor="cli", action="token.revoked",
                               target=f"token:{token_id}", origin=_origin())
        return ok

    if not (0 < token_id < 2**63) or not _with_db(settings, work):
        fail(f"no active token {token_id}")
    click.echo(f"revoked token {token_id}")


COMMANDS = [users, tokens]
