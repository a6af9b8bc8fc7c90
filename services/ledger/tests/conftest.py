"""Fixtures of the ledger tests: a migrated database (real Postgres), a unit-of-work factory,
signed access tokens and the app in-process."""

from __future__ import annotations

import base64
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from ledger.app import create_app
from ledger.models import SCHEMA, make_outbox
from ledger.settings import LedgerSettings
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import migrate, truncate_schema
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

ISSUER = "scifikpi-auth"
AUDIENCE = "scifikpi"


@pytest.fixture(scope="session")
async def ledger_database_url(database_url: str) -> str:
    """The run's database with the ledger migrations applied (once)."""
    await migrate(SERVICE_DIR, database_url)
    return database_url


@pytest.fixture
async def clean_db(ledger_database_url: str) -> str:
    await truncate_schema(ledger_database_url, SCHEMA)
    return ledger_database_url


@pytest.fixture
async def engine(clean_db: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(clean_db, schema=SCHEMA, application_name="ledger.tests", pool_size=20)
    yield eng
    await eng.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())


@dataclass
class Keys:
    private: Ed25519PrivateKey
    kid: str

    async def fetch(self) -> dict[str, Any]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "alg": "EdDSA", "x": x}]}

    def headers(self, user_id: uuid.UUID, *, role: str = "user") -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": str(user_id), "role": role, "status": "active", "iss": ISSUER,
            "aud": AUDIENCE, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex,
        }  # fmt: skip
        token = jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(Ed25519PrivateKey.generate(), kid=f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def ledger_settings(clean_db: str) -> LedgerSettings:
    return LedgerSettings(
        environment="test", database_url=clean_db, log_format="console",
        kafka_bootstrap_servers="127.0.0.1:9",
    )  # fmt: skip


@pytest.fixture
async def app(ledger_settings: LedgerSettings, keys: Keys) -> AsyncIterator[Any]:
    application = create_app(ledger_settings, jwks_fetcher=keys.fetch)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as c:
        yield c


Headers = Callable[..., dict[str, str]]
