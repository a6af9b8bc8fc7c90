"""Fixtures of the nft tests: a migrated database (real Postgres), signed access tokens and the
app in-process."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nft.app import create_app
from nft.models import SCHEMA
from nft.settings import NftSettings
from scifikpi_common.db import create_engine
from scifikpi_common.testing import migrate, truncate_schema
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
async def nft_database_url(database_url: str) -> str:
    """The run's database with the nft migrations applied (once)."""
    await migrate(SERVICE_DIR, database_url)
    return database_url


@pytest.fixture
async def clean_db(nft_database_url: str) -> str:
    await truncate_schema(nft_database_url, SCHEMA)
    return nft_database_url


@pytest.fixture
async def engine(clean_db: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(clean_db, schema=SCHEMA, application_name="nft.tests")
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def keys() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def nft_settings(clean_db: str) -> NftSettings:
    return NftSettings(
        environment="test", database_url=clean_db, log_format="console",
        kafka_bootstrap_servers="127.0.0.1:9", public_base_url="https://api.scifikpi.test/api/v1/",
        collection_name="SciFiKPI Test", collection_description="Test collection",
        collection_image_url="https://cdn.scifikpi.test/collection.png",
        metadata_max_age_s=300,
    )  # fmt: skip


@pytest.fixture
async def app(nft_settings: NftSettings, keys: TokenSigner) -> AsyncIterator[Any]:
    application = create_app(nft_settings, jwks_fetcher=keys.fetch)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://nft.test") as c:
        yield c


@pytest.fixture
def admin(keys: TokenSigner) -> dict[str, str]:
    return keys.headers(uuid.uuid4(), role="admin")


@pytest.fixture
def user(keys: TokenSigner) -> dict[str, str]:
    return keys.headers(uuid.uuid4())


@pytest.fixture
async def chain(clean_db: str) -> AsyncIterator[Any]:
    """The real emulated TON chain (pytvm running the contracts) on the test database, empty."""
    from nft.ton.local import LocalChain

    local = await LocalChain.open(clean_db)
    await local.reset()
    yield local
    await local.close()
