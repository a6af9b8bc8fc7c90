"""The payments service under test, for the shared fixtures (`scifikpi_tools.testing.plugin`:
`clean_db`, `engine`, `keys`, `app`, `client`, ...), and its own: the real provider stand-ins
(localstripe and the YooKassa fake, each a child process on a free loopback port), the app also
under uvicorn when a stand-in must reach its webhooks, and the flows the scheduler runs."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from payments.flows import PaymentFlows
from payments.models import outbox
from payments.settings import PaymentsSettings
from scifikpi_common.testing.service import ServiceUnderTest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _pay_helpers import WEBHOOK_SECRET, Keys, User, flows_for  # noqa: E402

YK_SHOP_ID = "100500"
YK_SECRET = "test_payments_tests_secret"


@pytest.fixture(scope="session")
def service_under_test() -> ServiceUnderTest:
    return ServiceUnderTest.of(SERVICE_DIR)


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
def settings_values(
    settings_values: dict[str, Any], localstripe: Any, yookassa_fake: Any
) -> dict[str, Any]:
    """The provider stand-ins, and short leases and polls so the flows move at test speed."""
    return {
        **settings_values,
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
async def flows(settings: PaymentsSettings) -> AsyncIterator[PaymentFlows]:
    """What the scheduler runs, driven step by step by the tests."""
    async with flows_for(settings) as f:
        yield f


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
