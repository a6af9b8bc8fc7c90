"""The `payments_work` channel: NOTIFY at commit when work is queued (a provider event stored, a
refund requested), and the scheduler's LISTEN connection that wakes it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from scifikpi_common.logging import get_logger
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from payments.models import WORK_CHANNEL

log = get_logger(__name__)


async def notify_work(session: AsyncSession) -> None:
    """Wake the scheduler at commit (a provider event or a refund waits)."""
    await session.execute(select(func.pg_notify(WORK_CHANNEL, "")))


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


class WorkListener:
    """Keeps a LISTEN connection on `payments_work` and calls `on_notify` for each notification
    (and once after every (re)connect: whatever arrived while nobody listened). A dead connection
    is replaced with backoff; polling covers the gaps."""

    #: how often the LISTEN connection is checked (a dead one is replaced)
    ping_s = 15.0

    def __init__(self, engine: AsyncEngine, on_notify: Callable[[], None]) -> None:
        self.engine = engine
        self.on_notify = on_notify
        self._retry_in_s = 0.5

    def _notified(self, *_: Any) -> None:
        self.on_notify()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._listen(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = self._retry_in_s
                log.warning("scheduler_listen_failed", error=repr(exc), retry_in_s=delay)
                await _sleep_or(stop, delay)
                self._retry_in_s = min(delay * 2, 15.0)

    async def _listen(self, stop: asyncio.Event) -> None:
        async with self.engine.connect() as conn:
            # Autocommit: the pings leave no transaction open (a session inside a transaction
            # gets no notifications until it ends).
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None  # the asyncpg connection of an open pool connection
            await raw.add_listener(WORK_CHANNEL, self._notified)
            log.info("scheduler_listening", channel=WORK_CHANNEL)
            self._retry_in_s = 0.5
            self.on_notify()  # whatever arrived while we were not listening
            try:
                while not stop.is_set():
                    await _sleep_or(stop, self.ping_s)
                    await conn.exec_driver_sql("SELECT 1")  # still alive?
            finally:
                with contextlib.suppress(Exception):
                    await raw.remove_listener(WORK_CHANNEL, self._notified)
