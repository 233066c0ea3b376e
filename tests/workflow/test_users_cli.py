"""`alerts users add/disable/list` and `alerts tokens create`: passwords from stdin or generated, roles checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import cli
from alerts.clock import Clock
from alerts.store import users as user_store
from alerts.store.engine import Database


def _run(config_dir: Path, url: str, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [*args, "--config", str(config_dir)], input=stdin,
                              env={"ALERTS_DATABASE_URL": url}, catch_exceptions=False)


async def _login(url: str, name: str, password: str) -> user_store.LoginOutcome:
    db = Database(url)
    try:
        async with db.write() as conn:
            return await user_store.check_login(conn, name, password, now=Clock().now(), max_failures=5,
                                                lockout_seconds=60)
    finally:
        await db.close()


async def _token_user(url: str, token: str) -> user_store.User | None:
    db = Database(url)
    try:
        async with db.read() as conn:
            return await user_store.user_for_token(conn, token)
    finally:
        await db.close()


def test_add_reads_the_password_from_stdin_and_it_logs_in(config_dir: Path, database_url: str) -> None:
    result = _run(config_dir, database_url, "users", "add", "wang.approver", "--role", "approver", "--role", "expert",
                  stdin="a-long-password-1\n")
    assert result.exit_code == 0, result.output
    assert "added user wang.approver with roles approver, expert" in result.output and "password" not in result.output
    outcome = asyncio.run(_login(database_url, "wang.approver", "a-long-password-1"))
    assert outcome.user is not None and outcome.user.roles == ("approver", "expert")


def test_add_generates_a_password_when_asked_and_prints_it_once(config_dir: Path, database_url: str) -> None:
    result = _run(config_dir, database_url, "users", "add", "li.editor", "--role", "editor", "--generate-password")
    assert result.exit_code == 0, result.output
    password = result.output.strip().splitlines()[-1].rsplit(": ", 1)[1]
    assert asyncio.run(_login(database_url, "li.editor", password)).user is not None


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "aprover"], "unknown role(s) aprover"),
    (["--role", "approver", "--phone", "12345"], "not a valid phone number"),
])
def test_add_refuses_bad_input_with_a_precise_message(config_dir: Path, database_url: str, args: list[str],
                                                      message: str) -> None:
    result = _run(config_dir, database_url, "users", "add", "x", *args, stdin="a-long-password-1\n")
    assert result.exit_code == 2 and message in result.output


def test_disable_ends_login_and_tokens(config_dir: Path, database_url: str) -> None:
    assert _run(config_dir, database_url, "users", "add", "api", "--role", "approver", stdin="a-long-password-1\n").exit_code == 0
    created = _run(config_dir, database_url, "tokens", "create", "api")
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert asyncio.run(_token_user(database_url, token)) is not None
    disabled = _run(config_dir, database_url, "users", "disable", "api")
    assert disabled.exit_code == 0 and "disabled user api" in disabled.output
    assert asyncio.run(_token_user(database_url, token)) is None
    assert asyncio.run(_login(database_url, "api", "a-long-password-1")).user is None
    listed = _run(config_dir, database_url, "users", "list")
    assert "api\tapprover\tdisabled" in listed.output


def test_tokens_for_unknown_users_are_refused(config_dir: Path, database_url: str) -> None:
    result = _run(config_dir, database_url, "tokens", "create", "nobody")
    assert result.exit_code == 2 and "no active user nobody" in result.output
