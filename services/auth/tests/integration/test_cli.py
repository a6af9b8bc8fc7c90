"""`auth-admin`: create an admin or promote a user, through the same use cases as the API."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from _auth_helpers import unique_email
from auth import cli
from auth.settings import get_settings
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

ADMIN_PASSWORD = "a-long-admin-passphrase"


def _auth_admin(
    args: list[str], database_url: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("auth-admin")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "auth.cli"]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("AUTH_DATABASE_URL", None)
    return subprocess.run(  # noqa: S603 - our own console script
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def _run(
    args: list[str], database_url: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real console script in its own process."""
    return await asyncio.to_thread(_auth_admin, args, database_url, stdin)


def _main_in_process(
    args: list[str], database_url: str, stdin: str | None
) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    saved_env = os.environ.get("DATABASE_URL")
    saved_stdin = sys.stdin
    os.environ["DATABASE_URL"] = database_url
    sys.stdin = io.StringIO(stdin or "")
    get_settings.cache_clear()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
    finally:
        sys.stdin = saved_stdin
        if saved_env is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved_env
        get_settings.cache_clear()
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


async def _main(
    args: list[str], database_url: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`auth.cli.main` in this process (faster; same code path after the import)."""
    return await asyncio.to_thread(_main_in_process, args, database_url, stdin)


class TestCreateAdmin:
    async def test_creates_an_active_admin_who_can_log_in(
        self, clean_db: str, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        email = unique_email("ops")
        result = await _run(
            ["create-admin", "--email", email.upper(), "--password-stdin", "--country", "de"],
            clean_db,
            ADMIN_PASSWORD + "\n",
        )
        assert result.returncode == 0, result.stderr
        assert f"created admin {email}" in result.stdout
        assert ADMIN_PASSWORD not in result.stdout + result.stderr
        login = await client.post("/auth/login", json={"email": email, "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        user = login.json()["user"]
        assert (user["role"], user["status"], user["country"], user["full_name"]) == (
            "admin",
            "active",
            "DE",
            "Administrator",
        )
        async with engine.connect() as conn:
            events = (
                (await conn.execute(text("SELECT event_type FROM auth.outbox ORDER BY id")))
                .scalars()
                .all()
            )
        assert events == ["UserRegistered", "UserActivated"]

    async def test_generates_and_prints_a_password_when_none_is_given(
        self, clean_db: str, client: httpx.AsyncClient
    ) -> None:
        email = unique_email("ops")
        result = await _main(["create-admin", "--email", email], clean_db)
        assert result.returncode == 0, result.stderr
        password = result.stdout.split("generated password (shown once): ")[1].strip()
        login = await client.post("/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200

    async def test_existing_email_fails_clearly(self, clean_db: str, register) -> None:
        email = (await register())["user"]["email"]
        result = await _main(
            ["create-admin", "--email", email, "--password-stdin"], clean_db, ADMIN_PASSWORD
        )
        assert result.returncode == 1
        assert "already exists" in result.stderr

    @pytest.mark.parametrize(
        ("args", "stdin", "message"),
        [
            (["--password-stdin"], "short", "at least 10"),
            (["--password-stdin"], "", "no password on stdin"),
            (["--password-stdin", "--country", "XX"], ADMIN_PASSWORD, "not an ISO 3166-1"),
        ],
    )
    async def test_bad_input(
        self, clean_db: str, args: list[str], stdin: str, message: str
    ) -> None:
        result = await _main(
            ["create-admin", "--email", unique_email("ops"), *args], clean_db, stdin
        )
        assert result.returncode == 1
        assert message in result.stderr
        assert "Traceback" not in result.stderr

    async def test_unreachable_database(self) -> None:
        result = await _main(
            ["create-admin", "--email", unique_email("ops"), "--password-stdin"],
            "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere",
            ADMIN_PASSWORD,
        )
        assert result.returncode == 1
        assert "cannot reach the database" in result.stderr


class TestPromote:
    async def test_promotes_an_existing_user(
        self, clean_db: str, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        email = registered["user"]["email"]
        result = await _run(["promote", "--email", email], clean_db)
        assert result.returncode == 0, result.stderr
        assert f"promoted {email}" in result.stdout
        me = await client.get(
            "/auth/me", headers={"Authorization": f"Bearer {registered['access_token']}"}
        )
        assert me.json()["role"] == "admin"
        # A refreshed access token carries the new role.
        refreshed = await client.post(
            "/auth/refresh", json={"refresh_token": registered["refresh_token"]}
        )
        assert (
            jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})[
                "role"
            ]
            == "admin"
        )
        again = await _main(["promote", "--email", email], clean_db)
        assert again.returncode == 0 and "already an admin" in again.stdout

    async def test_unknown_user(self, clean_db: str) -> None:
        result = await _main(["promote", "--email", "nobody@example.com"], clean_db)
        assert result.returncode == 1
        assert "no user with email nobody@example.com" in result.stderr

    async def test_usage_error(self, clean_db: str) -> None:
        result = await _main(["promote"], clean_db)
        assert result.returncode == 2
        assert "--email" in result.stderr
