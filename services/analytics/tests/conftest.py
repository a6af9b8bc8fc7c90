"""The analytics service under test: its migrations, schema and outbox for the shared fixtures
(`scifikpi_tools.testing.plugin`), its settings, and the app built with the test token signer."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from scifikpi_common.testing.service import ServiceUnderTest
from scifikpi_common.testing.tokens import TokenSigner
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def service_under_test() -> ServiceUnderTest:
    return ServiceUnderTest.of(SERVICE_DIR)


@pytest.fixture
def admin(keys: TokenSigner) -> dict[str, str]:
    return keys.headers(uuid.uuid4(), role="admin")


@pytest.fixture
def user(keys: TokenSigner) -> dict[str, str]:
    return keys.headers(uuid.uuid4())


@pytest.fixture
async def rollup_totals_checked(engine: AsyncEngine) -> AsyncIterator[None]:
    """After the test: `rollup_totals` equals the sum of `rollups` per metric × dimension."""
    yield
    from _analytics_helpers import assert_totals_match_cells

    await assert_totals_match_cells(engine)
