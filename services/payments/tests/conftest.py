"""Fixtures of the payments tests: a migrated database, the real provider stand-ins (localstripe
and the YooKassa fake, each a child process on a free loopback port), the app in-process (and
under uvicorn when a stand-in must reach its webhooks), and the scheduler's sync engine."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from payments.app import create_app
from payments.models import SCHEMA, make_outbox, outbox
from payments.providers import build_providers, close_providers
from payments.service import PaymentsService
from payments.settings import PaymentsSettings
from payments.sync import ProviderSync
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import migrate, truncate_schema
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pay_helpers import WEBHOOK_SECRET, Keys, User  # noqa: E402

YK_SHOP_ID = "100500"
YK_SECRET = "test_payments_tests_secret"


@pytest.fixture(scope="session")
async def payments_database_url(database_url: str) -> str:
    """The run's database with the payments migrations applied (once)."""
    await migrate(SERVICE_DIR, database_url)
    return database_url


@pytest.fixture
async def clean_db(payments_database_url: str) -> str:
    await truncate_schema(payments_database_url, SCHEMA)
    return payments_database_url


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def localstripe() -> Iterator[Any]:
    """localstripe (real, stateful Stripe stand-in) in a child process on loopback."""
    from scifikpi_tools.standins.localstripe import start_localstripe

    handle = start_localstripe(port=0)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def yookassa_fake() -> Iterator[Any]:
    """The YooKassa fake (tools/) in a child process on loopback."""
    from scifikpi_tools.standins.yookassa import start_yookassa_fake

    handle = start_yookassa_fake(port=0, shop_id=YK_SHOP_ID, secret_key=YK_SECRET)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
async def yookassa(yookassa_fake: Any) -> Any:
    """The fake with no payments, notifications, faults or webhook URL left from another test."""
    await yookassa_fake.control.reset()
    await yookassa_fake.control.clear_faults()
    await yookassa_fake.control.configure(webhook_url=None)
    return yookassa_fake


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or with `@pytest.mark.parametrize`) to tune the service."""
    return {}


@pytest.fixture
def payments_settings(
    clean_db: str, localstripe: Any, yookassa_fake: Any, settings_overrides: dict[str, Any]
) -> PaymentsSettings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": clean_db,
        "log_format": "console",
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "stripe_api_base": localstripe.url,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_max_network_retries": 0,
        "yookassa_api_base": yookassa_fake.api_url,
        "yookassa_shop_id": YK_SHOP_ID,
        "yookassa_secret_key": YK_SECRET,
        "provider_timeout_s": 5.0,
        "submit_lease_s": 10.0,
        "event_poll_interval_s": 0.2,
    }
    values.update(settings_overrides)
    return PaymentsSettings(**values)


@pytest.fixture
async def app(payments_settings: PaymentsSettings, keys: Keys) -> AsyncIterator[Any]:
    application = create_app(payments_settings, jwks_fetcher=keys.fetch)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://payments.test") as c:
        yield c


@pytest.fixture
async def live_url(app: Any) -> AsyncIterator[str]:
    """The same app (lifespan already running) also under uvicorn, for stand-ins' webhooks."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@pytest.fixture
async def engine(clean_db: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(clean_db, schema=SCHEMA, application_name="payments.tests", pool_size=5)
    yield eng
    await eng.dispose()


@pytest.fixture
async def sync(payments_settings: PaymentsSettings) -> AsyncIterator[ProviderSync]:
    """What the scheduler runs, driven step by step by the tests."""
    eng = create_engine(
        payments_settings.database_url,
        schema=SCHEMA,
        application_name="payments.tests.sync",
        pool_size=10,
    )
    providers = build_providers(payments_settings)
    service = PaymentsService(
        UnitOfWorkFactory(create_sessionmaker(eng), make_outbox()), providers, payments_settings
    )
    try:
        yield ProviderSync(service)
    finally:
        await close_providers(providers)
        await eng.dispose()


MakeUser = Callable[..., User]


@pytest.fixture
def make_user(keys: Keys) -> MakeUser:
    """A user with an access token; `status` is the token claim (the projection is empty)."""

    def make(status: str = "active", role: str = "user", user_id: uuid.UUID | None = None) -> User:
        uid = user_id or uuid.uuid4()
        return User(uid, keys.token(uid, role=role, status=status))

    return make


@pytest.fixture
def user(make_user: MakeUser) -> User:
    return make_user("active")


@pytest.fixture
def admin(make_user: MakeUser) -> User:
    return make_user("active", role="admin")


OutboxRows = Callable[..., Awaitable[list[Any]]]


@pytest.fixture
def outbox_rows(engine: AsyncEngine) -> OutboxRows:
    async def rows(event_type: str | None = None) -> list[Any]:
        stmt = select(outbox).order_by(outbox.c.id)
        if event_type:
            stmt = stmt.where(outbox.c.event_type == event_type)
        async with engine.connect() as conn:
            return list((await conn.execute(stmt)).all())

    return rows
