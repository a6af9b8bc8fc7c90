"""The auth service under test: its migrations, schema, outbox and app for the shared fixtures
(`scifikpi_tools.testing.plugin`: `clean_db`, `engine`, `factory`, `app`, `client`, ...), its
settings, and the auth-specific helpers (`settings_overrides`, `register`)."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from scifikpi_common.testing.service import ServiceUnderTest

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _auth_helpers import individual  # noqa: E402


@pytest.fixture(scope="session")
def service_under_test() -> ServiceUnderTest:
    return ServiceUnderTest.of(SERVICE_DIR)


Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register(client: httpx.AsyncClient) -> Register:
    """POST /auth/register and assert 201; returns the JSON body (plus the password used)."""

    async def do(body: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
        payload = body or individual(**overrides)
        response = await client.post("/auth/register", json=payload)
        assert response.status_code == 201, response.text
        return {**response.json(), "password": payload["password"]}

    return do
