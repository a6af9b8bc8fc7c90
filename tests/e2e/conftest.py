"""Black-box end-to-end tests: everything goes through the gateway, as the frontend would.

The session fixture `e2e` uses an already-running stack when `E2E_GATEWAY_URL` is set (its broker
from `E2E_KAFKA_BOOTSTRAP_SERVERS` or `KAFKA_BOOTSTRAP_SERVERS`, for the event tests); otherwise
it starts the whole local stack (`scifikpi_tools.stack.LocalStack`) on free ports for the run:
a fresh database on `DATABASE_URL` / 127.0.0.1:5432 / embedded, its own Tansu broker (or
`STACK_KAFKA_BOOTSTRAP_SERVERS`), the provider stand-ins (localstripe, the YooKassa fake),
migrations, then every service process. The payments scheduler of that stack reconciles after a
few seconds (`E2E_STACK_ENV`), so the lost-webhook test does not wait a minute. With an external
stack the stand-ins are at `E2E_LOCALSTRIPE_URL` / `E2E_YOOKASSA_URL` (default: 8420 / 8421) and
its database, for `ledger-admin check`, at `E2E_DATABASE_URL`. Mining sessions of the started
stack last a minute.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

# The tests import their helpers from `e2e_support` (next to this file). It is registered by
# path rather than by putting this folder on sys.path, which would also expose this conftest
# as a top-level `conftest` module to every other test package.
_here = Path(__file__).parent


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, _here / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


e2e_support = _load("e2e_support")
API = e2e_support.API
# the security suite's session fixtures, and its hook that runs the log scan after every test
security_support = _load("security_support")
security_api = security_support.security_api
users = security_support.users
signer = security_support.signer
pytest_collection_modifyitems = security_support.pytest_collection_modifyitems


#: settings of the stack the e2e session starts (payments reconciles soon after a payment)
E2E_STACK_ENV = {
    "PAYMENTS_RECONCILE_MIN_AGE_S": "4",
    "PAYMENTS_RECONCILE_INTERVAL_S": "1",
    "PAYMENTS_RECONCILE_BACKOFF_MAX_S": "2",
    # one-minute mining sessions: an acceleration finishes one in seconds, the scheduler soon
    "MINING_SESSION_DURATION_S": "60",
    "MINING_COMPLETE_INTERVAL_S": "0.5",
}


@dataclass(frozen=True)
class E2E:
    gateway_url: str
    kafka_bootstrap_servers: str | None
    log_path: str | None = None
    localstripe_url: str | None = None
    yookassa_url: str | None = None
    #: the stack's database, for ops commands such as `ledger-admin check`
    database_url: str | None = None


@pytest.fixture(scope="session")
async def e2e(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[E2E]:
    external = os.environ.get("E2E_GATEWAY_URL")
    if external:
        kafka = os.environ.get("E2E_KAFKA_BOOTSTRAP_SERVERS") or os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS"
        )
        yield E2E(
            external.rstrip("/"),
            kafka,
            localstripe_url=os.environ.get("E2E_LOCALSTRIPE_URL", "http://127.0.0.1:8420"),
            yookassa_url=os.environ.get("E2E_YOOKASSA_URL", "http://127.0.0.1:8421"),
            database_url=os.environ.get("E2E_DATABASE_URL"),
        )
        return
    from scifikpi_tools.stack import LocalStack

    stack = LocalStack.for_tests(tmp_path_factory.mktemp("e2e-stack"), extra_env=E2E_STACK_ENV)
    async with stack:
        yield E2E(
            stack.gateway_url,
            stack.kafka_bootstrap_servers,
            str(stack.data_dir / "stack.log"),
            localstripe_url=stack.localstripe_url,
            yookassa_url=stack.yookassa_url,
            database_url=stack.database_url,
        )


@pytest.fixture
async def gateway(e2e: E2E) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the gateway's root (health, docs, OpenAPI)."""
    async with httpx.AsyncClient(base_url=e2e.gateway_url, timeout=15) as client:
        yield client


@pytest.fixture
async def api(e2e: E2E) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the public API (`/api/v1`)."""
    async with httpx.AsyncClient(base_url=e2e.gateway_url + API, timeout=15) as client:
        yield client


@pytest.fixture
def kafka(e2e: E2E) -> str:
    if not e2e.kafka_bootstrap_servers:
        pytest.skip("E2E_GATEWAY_URL is set without E2E_KAFKA_BOOTSTRAP_SERVERS: no broker to read")
    return e2e.kafka_bootstrap_servers


@pytest.fixture
def localstripe_url(e2e: E2E) -> str:
    """The Stripe stand-in of the stack (an external stack names it in E2E_LOCALSTRIPE_URL)."""
    assert e2e.localstripe_url, "this stack has no localstripe"
    return e2e.localstripe_url


@pytest.fixture
def database_url(e2e: E2E) -> str:
    """The stack's database, for ops commands (`ledger-admin`, `auth-admin`)."""
    if not e2e.database_url:
        pytest.skip("E2E_DATABASE_URL is not set: cannot run ops commands against this stack")
    return e2e.database_url
