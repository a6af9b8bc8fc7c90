"""Fixtures of the auth tests: a migrated database, the app with its lifespan, a client."""
# ruff: noqa: S105, S106  (test credentials)

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth.app import create_app
from auth.models import SCHEMA
from auth.settings import AuthSettings
from scifikpi_common.db import create_engine
from scifikpi_common.testing import migrate, truncate_schema
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _auth_helpers import individual  # noqa: E402


@pytest.fixture(scope="session")
async def auth_database_url(database_url: str) -> str:
    """The run's database with the auth migrations applied (once)."""
    await migrate(SERVICE_DIR, database_url)
    return database_url


@pytest.fixture
async def clean_db(auth_database_url: str) -> str:
    await truncate_schema(auth_database_url, SCHEMA)
    return auth_database_url


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with `@pytest.mark.parametrize`) to tune the app."""
    return {}


@pytest.fixture
def auth_settings(clean_db: str, settings_overrides: dict[str, Any]) -> AuthSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": clean_db,
        "log_format": "console",
        "kafka_bootstrap_servers": "127.0.0.1:9",
    }
    values.update(settings_overrides)
    return AuthSettings(**values)


@pytest.fixture
async def app(auth_settings: AuthSettings) -> AsyncIterator[Any]:
    application = create_app(auth_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://auth.test") as c:
        yield c


@pytest.fixture
async def engine(clean_db: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(clean_db, schema=SCHEMA, application_name="auth.tests", pool_size=2)
    yield eng
    await eng.dispose()


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
