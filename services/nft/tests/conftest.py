"""The nft service under test: its migrations, schema and outbox for the shared fixtures
(`scifikpi_tools.testing.plugin`), its settings, and what only nft's tests need: admin and user
tokens and the real emulated TON chain."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from scifikpi_common.testing.service import ServiceUnderTest
from scifikpi_common.testing.tokens import TokenSigner

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def service_under_test() -> ServiceUnderTest:
    return ServiceUnderTest.of(SERVICE_DIR)


@pytest.fixture
def settings_values(settings_values: dict[str, Any]) -> dict[str, Any]:
    return {
        **settings_values,
        "public_base_url": "https://api.scifikpi.test/api/v1/",
        "collection_name": "SciFiKPI Test",
        "collection_description": "Test collection",
        "collection_image_url": "https://cdn.scifikpi.test/collection.png",
        "metadata_max_age_s": 300,
    }


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
