"""POST /auth/login: credentials, no account enumeration, rate limiting, rehash."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import httpx
import pytest
from _auth_helpers import PASSWORD, fresh_ip, unique_email
from argon2 import PasswordHasher, Type
from scifikpi_common.testing.contracts import assert_problem
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def _login(
    client: httpx.AsyncClient, email: str, password: str, ip: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": ip} if ip else {}
    return await client.post(
        "/auth/login", json={"email": email, "password": password}, headers=headers
    )


class TestLogin:
    async def test_success_returns_the_token_pair_and_user(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        response = await _login(client, registered["user"]["email"], PASSWORD)
        assert response.status_code == 200, response.text
        data = response.json()
        assert data["user"] == registered["user"]
        assert data["token_type"] == "Bearer"
        assert data["expires_in"] == 900
        assert data["access_token"] and data["refresh_token"]
        assert data["refresh_token"] != registered["refresh_token"]
        assert response.headers["cache-control"] == "no-store"

    async def test_email_is_matched_case_insensitively(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        response = await _login(client, "  " + registered["user"]["email"].upper(), PASSWORD)
        assert response.status_code == 200, response.text

    async def test_wrong_password_and_unknown_email_answer_identically(
        self, client: httpx.AsyncClient, register
    ) -> None:
        registered = await register()
        wrong = await _login(client, registered["user"]["email"], "not the password", fresh_ip())
        unknown = await _login(client, unique_email("nobody"), "not the password", fresh_ip())
        for response in (wrong, unknown):
            assert_problem(response, 401, "invalid-credentials")
        body_wrong, body_unknown = wrong.json(), unknown.json()
        assert body_wrong == body_unknown
        assert body_wrong["title"] == "Invalid email or password"
        assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")

    async def test_unknown_fields_and_missing_password(self, client: httpx.AsyncClient) -> None:
        assert_problem(
            await client.post(
                "/auth/login", json={"email": "a@example.com", "password": "x", "otp": 1}
            ),
            422,
            "validation-error",
        )
        assert_problem(
            await client.post("/auth/login", json={"email": "a@example.com"}),
            422,
            "validation-error",
        )

    async def test_blocked_account(
        self, client: httpx.AsyncClient, register, engine: AsyncEngine
    ) -> None:
        registered = await register()
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE auth.users SET status = 'blocked'"))
        assert_problem(
            await _login(client, registered["user"]["email"], PASSWORD), 403, "account-blocked"
        )

    async def test_rehash_when_parameters_changed(
        self, client: httpx.AsyncClient, register, engine: AsyncEngine
    ) -> None:
        registered = await register()
        old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=Type.ID).hash(
            PASSWORD
        )
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE auth.users SET password_hash = :h"), {"h": old})
        response = await _login(client, registered["user"]["email"], PASSWORD)
        assert response.status_code == 200, response.text
        async with engine.connect() as conn:
            stored = (await conn.execute(text("SELECT password_hash FROM auth.users"))).scalar_one()
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


class TestRateLimiting:
    async def test_per_account_after_five_failures(
        self, client: httpx.AsyncClient, register
    ) -> None:
        email = (await register())["user"]["email"]
        for _ in range(5):
            assert_problem(
                await _login(client, email, "not the password", fresh_ip()),
                401,
                "invalid-credentials",
            )
        # Even the right password from a fresh IP is refused while the window lasts.
        limited = await _login(client, email, PASSWORD, fresh_ip())
        problem = assert_problem(limited, 429, "too-many-login-attempts")
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 15 * 60 + 1
        assert problem["retry_after_s"] == retry_after
        assert "account" not in problem["detail"].lower()

    async def test_unknown_accounts_are_limited_the_same_way(
        self, client: httpx.AsyncClient, register
    ) -> None:
        known = (await register())["user"]["email"]
        unknown = unique_email("ghost")
        answers = {}
        for email in (known, unknown):
            for _ in range(5):
                await _login(client, email, "not the password", fresh_ip())
            answers[email] = await _login(client, email, "not the password", fresh_ip())
        a, b = answers[known], answers[unknown]
        assert a.status_code == b.status_code == 429
        strip = lambda body: {k: v for k, v in body.items() if k != "retry_after_s"}  # noqa: E731
        assert strip(a.json()) == strip(b.json())

    async def test_success_resets_the_account_counter(
        self, client: httpx.AsyncClient, register
    ) -> None:
        email = (await register())["user"]["email"]
        for _ in range(4):
            await _login(client, email, "not the password", fresh_ip())
        assert (await _login(client, email, PASSWORD, fresh_ip())).status_code == 200
        for _ in range(4):
            await _login(client, email, "not the password", fresh_ip())
        assert (await _login(client, email, PASSWORD, fresh_ip())).status_code == 200

    @pytest.mark.parametrize("settings_overrides", [{"login_max_failures_per_ip": 3}])
    async def test_per_client_ip(self, client: httpx.AsyncClient, register) -> None:
        email = (await register())["user"]["email"]
        attacker = fresh_ip()
        for _ in range(3):
            await _login(client, unique_email("spray"), "not the password", attacker)
        assert_problem(
            await _login(client, email, PASSWORD, attacker), 429, "too-many-login-attempts"
        )
        # Another client is unaffected.
        assert (await _login(client, email, PASSWORD, fresh_ip())).status_code == 200

    @pytest.mark.parametrize(
        "settings_overrides", [{"login_max_failures_per_ip": 2, "trusted_proxies": ["10.0.0.0/8"]}]
    )
    async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
        self, client: httpx.AsyncClient
    ) -> None:
        # The test client's peer (127.0.0.1) is not trusted here: rotating X-Forwarded-For does
        # not escape the per-IP limit.
        for _ in range(2):
            await _login(client, unique_email("spray"), "not the password", fresh_ip())
        assert_problem(
            await _login(client, unique_email("spray"), "not the password", fresh_ip()),
            429,
            "too-many-login-attempts",
        )

    async def test_failures_are_counted_in_postgres(
        self, client: httpx.AsyncClient, engine: AsyncEngine
    ) -> None:
        ip = fresh_ip()
        for _ in range(3):
            await _login(client, "counted@example.com", "not the password", ip)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT scope, key, failures FROM auth.login_failures ORDER BY scope")
                )
            ).all()
        assert [(r.scope, r.failures) for r in rows] == [("account", 3), ("ip", 3)]
        assert rows[1].key == ip
        assert "counted@example.com" not in rows[0].key  # stored hashed
