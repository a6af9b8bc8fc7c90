"""A fake of the YooKassa HTTP API v3 for the local stack and the tests (see `app.py` for the
routes, `notifier.py` for notification delivery control, docs/payments-local.md for a person).

    python -m scifikpi_tools.standins.yookassa --port 8421 --shop-id 100500 \\
        --secret-key test_... [--webhook-url http://127.0.0.1:8000/api/v1/payments/webhooks/yoomoney]

From Python (a child process; `.control` is an async client of `/_control/...`):

    handle = start_yookassa_fake(port=0, shop_id="100500", secret_key="test_x",
                                 webhook_url="http://127.0.0.1:9999/hook")
    Configuration.configure("100500", "test_x", api_url=handle.api_url)   # the real SDK
    await handle.control.pay(payment_id, mode="drop")
    handle.stop()
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO

from scifikpi_tools.standins import DEV_YOOKASSA_SECRET_KEY, DEV_YOOKASSA_SHOP_ID
from scifikpi_tools.standins.process import HOST, StandinHandle, spawn
from scifikpi_tools.standins.yookassa.control import ControlClient, SyncControlClient

MODULE = "scifikpi_tools.standins.yookassa"


class YooKassaHandle(StandinHandle):
    """A running fake: `url` (its root), `api_url` (`.../v3`), `control`, `stop()`."""

    @property
    def api_url(self) -> str:
        return f"{self.url}/v3"

    @property
    def shop_id(self) -> str:
        return str(self.extra["shop_id"])

    @property
    def secret_key(self) -> str:
        return str(self.extra["secret_key"])

    @property
    def control(self) -> ControlClient:
        return ControlClient(self.url)

    @property
    def control_sync(self) -> SyncControlClient:
        return SyncControlClient(self.url)


def start_yookassa_fake(
    port: int = 0,
    shop_id: str = DEV_YOOKASSA_SHOP_ID,
    secret_key: str = DEV_YOOKASSA_SECRET_KEY,
    webhook_url: str | None = None,
    *,
    host: str = HOST,
    retry_delays_ms: Sequence[int] | None = None,
    log: Path | IO[bytes] | int | None = None,
    timeout: float = 20.0,
) -> YooKassaHandle:
    """Start the fake in a child process on host:port (0 = a free port); returns when it listens."""
    args = ["--shop-id", shop_id, "--secret-key", secret_key]
    if webhook_url:
        args += ["--webhook-url", webhook_url]
    if retry_delays_ms is not None:
        args += ["--retry-delays-ms", ",".join(str(d) for d in retry_delays_ms)]
    process, chosen = spawn(MODULE, args, host=host, port=port, log=log, timeout=timeout)
    return YooKassaHandle(
        url=f"http://{host}:{chosen}",
        process=process,
        host=host,
        port=chosen,
        extra={"shop_id": shop_id, "secret_key": secret_key},
    )


__all__ = [
    "ControlClient",
    "SyncControlClient",
    "YooKassaHandle",
    "start_yookassa_fake",
]
