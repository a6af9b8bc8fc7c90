"""The mining service under test: its migrations, schema and outbox for the shared fixtures
(`scifikpi_tools.testing.plugin`), its settings (one-hour sessions), and the app built with the
test token signer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from scifikpi_common.testing.service import ServiceUnderTest

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _mining_helpers import DURATION_S  # noqa: E402


@pytest.fixture(scope="session")
def service_under_test() -> ServiceUnderTest:
    return ServiceUnderTest.of(SERVICE_DIR)


@pytest.fixture
def settings_values(settings_values: dict[str, Any]) -> dict[str, Any]:
    """One-hour sessions at the production prices; room in the pool for the concurrency tests."""
    return {
        **settings_values,
        "session_duration_s": DURATION_S,
        "price_per_hour_minor": 100,
        "min_accel_minor": 50,
        "quote_ttl_s": 900,
        "db_pool_size": 30,
    }


@pytest.fixture(autouse=True)
def _consumers_use_test_settings(monkeypatch: pytest.MonkeyPatch, request: Any) -> None:
    """The consumers read `get_settings()`; point it at the test settings when a test has them."""
    if "settings" in request.fixturenames:
        settings = request.getfixturevalue("settings")
        monkeypatch.setattr("mining.consumers.get_settings", lambda: settings)
