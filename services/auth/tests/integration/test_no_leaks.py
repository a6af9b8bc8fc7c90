"""Secrets never reach logs; failures never answer with a traceback."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _auth_helpers import PASSWORD, fresh_ip, individual
from scifikpi_common.testing.contracts import assert_problem


async def test_no_password_token_or_hash_in_logs(
    client: httpx.AsyncClient,
    register,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    registered = await register()
    email = registered["user"]["email"]
    await client.post(
        "/auth/login",
        json={"email": email, "password": "wrong-password-123"},
        headers={"X-Forwarded-For": fresh_ip()},
    )
    login = (await client.post("/auth/login", json={"email": email, "password": PASSWORD})).json()
    await client.get("/auth/me", headers={"Authorization": f"Bearer {login['access_token']}"})
    rotated = (
        await client.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})
    ).json()
    await client.post("/auth/refresh", json={"refresh_token": login["refresh_token"]})  # reuse
    await client.post("/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    await client.post("/auth/register", json=individual(password="tiny"))

    logged = capsys.readouterr().out + caplog.text
    assert (
        "user_registered" in logged and "refresh_token_reused" in logged
    )  # we did capture the logs
    secrets = [
        PASSWORD,
        "wrong-password-123",
        "tiny",
        registered["access_token"],
        registered["refresh_token"],
        login["access_token"],
        login["refresh_token"],
        rotated["refresh_token"],
        "$argon2id$",
    ]
    for secret in secrets:
        assert secret not in logged, secret


@pytest.mark.parametrize(
    "settings_overrides", [{"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}]
)
async def test_database_down_is_a_retryable_problem_without_internals(app: Any) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as client:
        for response in (
            await client.post("/auth/register", json=individual()),
            await client.post("/auth/login", json={"email": "a@example.com", "password": PASSWORD}),
            await client.post("/auth/refresh", json={"refresh_token": "whatever"}),
        ):
            assert_problem(response, 503, "upstream-unavailable")
            assert response.headers["retry-after"] == "5"
            assert "asyncpg" not in response.text and "127.0.0.1" not in response.text
