"""Fixtures of the tools' tests: the YooKassa fake (one process per test module), a webhook
receiver it notifies, and the official SDK pointed at it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from scifikpi_tools.standins.recorder import WebhookRecorder
from scifikpi_tools.standins.yookassa import YooKassaHandle, start_yookassa_fake
from yookassa import Configuration

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _yookassa_helpers import SECRET, SHOP_ID  # noqa: E402

#: the default delivery policy, restored after each test that changes it
DELIVER = {"mode": "deliver", "copies": 1, "delay_ms": 0}


@pytest.fixture(scope="module")
def fake() -> Iterator[YooKassaHandle]:
    handle = start_yookassa_fake(
        port=0, shop_id=SHOP_ID, secret_key=SECRET, retry_delays_ms=[100, 200]
    )
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
async def hook(fake: YooKassaHandle) -> AsyncIterator[WebhookRecorder]:
    """A webhook receiver the fake notifies (default delivery policy restored afterwards)."""
    async with WebhookRecorder() as recorder:
        await fake.control.configure(webhook_url=recorder.url, delivery=DELIVER)
        yield recorder
        await fake.control.configure(webhook_url=None, delivery=DELIVER)


@pytest.fixture
def sdk(fake: YooKassaHandle) -> None:
    """The official SDK pointed at the fake (its configuration is global class state)."""
    Configuration.configure(SHOP_ID, SECRET, api_url=fake.api_url)
