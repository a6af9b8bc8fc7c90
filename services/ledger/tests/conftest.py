"""The ledger under test: its migrations, schema and outbox for the shared fixtures
(`scifikpi_tools.testing.plugin`), its settings, and the app built with the test token signer."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from scifikpi_common.testing.service import ServiceUnderTest

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def service_under_test() -> ServiceUnderTest:
    return ServiceUnderTest.of(SERVICE_DIR)


Headers = Callable[..., dict[str, str]]
