"""`payments-scheduler`: processes stored provider events and refunds, and reconciles.

- Work loop: woken by `NOTIFY payments_work` (a webhook stored, a refund requested) on a
  LISTEN connection, else polling every `event_poll_interval_s`; drains due provider events and
  refunds in batches.
- Reconciliation loop: every `reconcile_interval_s`, re-checks unfinished payments at the provider.

Any number of schedulers may run: every piece of work is claimed with `FOR UPDATE SKIP LOCKED` and a
lease. A database or provider outage only delays work; each loop backs off and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.models import WORK_CHANNEL, make_outbox
from payments.providers import Providers, build_providers, close_providers
from payments.service import PaymentsService
from payments.settings import PaymentsSettings
from payments.sync import ProviderSync

log = get_logger(__name__)


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


class Scheduler:
    #: how often the LISTEN connection is checked (a dead one is replaced)
    listen_ping_s = 15.0

    def __init__(self, engine: AsyncEngine, sync: ProviderSync) -> None:
        self.engine = engine
        self.sync = sync
        self.settings = sync.settings
        self._wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [
            asyncio.create_task(self._listen(stop), name="payments-listen"),
            asyncio.create_task(self._work_loop(stop), name="payments-work"),
            asyncio.create_task(self._reconcile_loop(stop), name="payments-reconcile"),
        ]
        try:
            await stop.wait()
        finally:
            self._wakeup.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _notified(self, *_: Any) -> None:
        self._wakeup.set()

    async def _listen(self, stop: asyncio.Event) -> None:
        """Keep a LISTEN connection; reconnect with backoff (polling covers the gaps)."""
        delay = 0.5
        while not stop.is_set():
            try:
                async with self.engine.connect() as conn:
                    raw = (await conn.get_raw_connection()).driver_connection
                    await raw.add_listener(WORK_CHANNEL, self._notified)
                    log.info("scheduler_listening", channel=WORK_CHANNEL)
                    delay = 0.5
                    self._wakeup.set()  # whatever arrived while we were not listening
                    try:
                        while not stop.is_set():
                            await _sleep_or(stop, self.listen_ping_s)
                            await conn.exec_driver_sql("SELECT 1")  # still alive?
                            # End the transaction the ping began: a session inside a transaction
                            # gets no notifications until it ends.
                            await conn.commit()
                    finally:
                        with contextlib.suppress(Exception):
                            await raw.remove_listener(WORK_CHANNEL, self._notified)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("scheduler_listen_failed", error=repr(exc), retry_in_s=delay)
                await _sleep_or(stop, delay)
                delay = min(delay * 2, 15.0)

    async def _work_loop(self, stop: asyncio.Event) -> None:
        delay = 0.0
        while not stop.is_set():
            self._wakeup.clear()
            try:
                events = await self.sync.process_due_events()
                refunds = await self.sync.service.process_due_refunds()
                delay = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = min(max(delay * 2, 0.5), 15.0)
                log.warning("scheduler_work_failed", error=repr(exc), retry_in_s=delay)
                await _sleep_or(stop, delay)
                continue
            if (
                events >= self.settings.event_batch_size
                or refunds >= self.settings.event_batch_size
            ):
                continue  # more is waiting
            await _sleep_or(self._wakeup, self.settings.event_poll_interval_s)

    async def _reconcile_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                checked = await self.sync.reconcile_due()
                await self.sync.refresh_gauges()
                if checked:
                    log.info("reconciliation_pass", checked=checked)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reconciliation_failed", error=repr(exc))
            await _sleep_or(stop, self.settings.reconcile_interval_s)


async def run_until_stopped(
    settings: PaymentsSettings, stop: asyncio.Event, providers: Providers | None = None
) -> None:
    """The scheduler process body (also started in-process by tests and the benchmark)."""
    engine = create_engine(
        settings.database_url,
        schema=settings.db_schema,
        application_name="payments.scheduler",
        pool_size=max(4, settings.event_concurrency + 2),
    )
    own_providers = providers is None
    providers = providers or build_providers(settings)
    service = PaymentsService(
        UnitOfWorkFactory(create_sessionmaker(engine), make_outbox()), providers, settings
    )
    try:
        await Scheduler(engine, ProviderSync(service)).run(stop)
    finally:
        if own_providers:
            await close_providers(providers)
        await engine.dispose()
