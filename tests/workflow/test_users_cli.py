"""`alerts users` and `alerts tokens`: one-time links instead of passwords, owner-only tokens, roles checked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import cli
from alerts.store import users as user_store
from alerts.store.engine import Database


def _run(config_dir: Path, url: str, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, [*args, "--config", str(config_dir)], input=stdin,
                              env={"ALERTS_DATABASE_URL": url}, catch_exceptions=False)


async def _login(url: str, name: str, password: str) -> user_store.LoginOutcome:
    db = Database(url)
    try:
        async with db.read() as conn:
            return await user_store.check_login(conn, name, password)
    finally:
        await db.close()


async def _token_user(url: str, token: str) -> user_store.User | None:
    db = Database(url)
    try:
        async with db.read() as conn:
            return await user_store.user_for_token(conn, token)
    finally:
        await db.close()


def enrolled(config_dir: Path, url: str, name: str, *roles: str, password: str = "a-long-password-1") -> None:
    """Add a user as the operator does, then set the password as the owner does with the link."""
    args = [a for r in roles for a in ("--role", r)]
    added = _run(config_dir, url, "users", "add", name, *args)
    assert added.exit_code == 0, added.output
    link = added.output.strip().splitlines()[-1]
    assert "/enrol/" in link
    result = _run(config_dir, url, "users", "enrol", link, stdin=f"{password}\n")
    assert result.exit_code == 0 and f"password set for {name}" in result.output, result.output


def test_add_prints_a_one_time_link_and_no_password(config_dir: Path, database_url: str) -> None:
    result = _run(config_dir, database_url, "users", "add", "wang.approver", "--role", "approver", "--role", "expert")
    assert result.exit_code == 0, result.output
    assert "added user wang.approver with roles approver, expert" in result.output
    assert "password:" not in result.output.lower()
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://127.0.0.1:8080/enrol/")
    assert asyncio.run(_login(database_url, "wang.approver", "")).user is None  # nothing works before enrolment
    assert "wang.approver\tapprover,expert\tnot enrolled" in _run(config_dir, database_url, "users", "list").output

    assert _run(config_dir, database_url, "users", "enrol", link, stdin="a-long-password-1\n").exit_code == 0
    outcome = asyncio.run(_login(database_url, "wang.approver", "a-long-password-1"))
    assert outcome.user is not None and outcome.user.roles == ("approver", "expert")
    again = _run(config_dir, database_url, "users", "enrol", link, stdin="another-password-2\n")
    assert again.exit_code == 2, "a link works once"


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "aprover"], "unknown role(s) aprover"),
    (["--role", "approver", "--phone", "12345"], "not a valid phone number"),
    (["--role", "approver", "--display-name", "王\u202e伟"], "--display-name"),
])
def test_add_refuses_bad_input_with_a_precise_message(config_dir: Path, database_url: str, args: list[str],
                                                      message: str) -> None:
    result = _run(config_dir, database_url, "users", "add", "x", *args)
    assert result.exit_code == 2 and message in result.output


def test_only_the_owner_creates_tokens_and_disable_revokes_them(config_dir: Path, database_url: str) -> None:
    enrolled(config_dir, database_url, "api", "approver")
    refused = _run(config_dir, database_url, "tokens", "create", "api", stdin="not-the-password\n")
    assert refused.exit_code == 2 and "only the owner" in refused.output
    created = _run(config_dir, database_url, "tokens", "create", "api", stdin="a-long-password-1\n")
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert asyncio.run(_token_user(database_url, token)) is not None
    disabled = _run(config_dir, database_url, "users", "disable", "api")
    assert disabled.exit_code == 0 and "disabled user api" in disabled.output
    assert asyncio.run(_token_user(database_url, token)) is None
    assert asyncio.run(_login(database_url, "api", "a-long-password-1")).user is None
    assert "api\tapprover\tdisabled" in _run(config_dir, database_url, "users", "list").output
    assert _run(config_dir, database_url, "users", "enable", "api").exit_code == 0
    assert asyncio.run(_token_user(database_url, token)) is None, "enabling again restores no revoked token"
    listed = _run(config_dir, database_url, "tokens", "list", "api").output
    assert "\tapi\t" in listed and "revoked" in listed and token not in listed


def test_reset_revokes_everything_and_prints_a_new_link(config_dir: Path, database_url: str) -> None:
    enrolled(config_dir, database_url, "li.editor", "editor")
    token = _run(config_dir, database_url, "tokens", "create", "li.editor",
                 stdin="a-long-password-1\n").output.strip().splitlines()[-1]
    result = _run(config_dir, database_url, "users", "reset", "li.editor")
    assert result.exit_code == 0 and "/enrol/" in result.output.splitlines()[-1]
    assert asyncio.run(_token_user(database_url, token)) is None
    assert asyncio.run(_login(database_url, "li.editor", "a-long-password-1")).user is None


def test_tokens_for_unknown_users_are_refused(config_dir: Path, database_url: str) -> None:
    result = _run(config_dir, database_url, "tokens", "create", "nobody", stdin="whatever-password\n")
    assert result.exit_code == 2 and "no active user nobody" in result.output
