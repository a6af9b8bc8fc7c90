"""`payments-scheduler`: the time-driven loops, each pass through the flows (one unit of work per
step, committed by the flow).

- Work loop: woken by `NOTIFY payments_work` (a webhook stored, a refund requested) on a
  LISTEN connection, else polling every `event_poll_interval_s`; drains due provider events and
  refunds in batches.
- Reconciliation loop: every `reconcile_interval_s`, re-checks unfinished payments at the provider
  and refreshes the backlog gauges.

Any number of schedulers may run: every piece of work is claimed with `FOR UPDATE SKIP LOCKED` and a
lease. A database or provider outage only delays work; each loop backs off and carries on.
"""

from __future__ import annotations

import asyncio
import contextlib

from scifikpi_common.db import (
    process_database,
)
from scifikpi_common.logging import get_logger

from payments.flows import PaymentFlows
from payments.models import make_outbox
from payments.providers import Providers, build_providers, close_providers
from payments.repository import WorkListener
from payments.settings import PaymentsSettings

log = get_logger(__name__)


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)


async def work_loop(flows: PaymentFlows, wakeup: asyncio.Event, stop: asyncio.Event) -> None:
    """Provider events and refunds, as long as there are any; then wait for a NOTIFY or a poll."""
    settings = flows.settings
    delay = 0.0
    while not stop.is_set():
        wakeup.clear()
        try:
            events = await flows.events.process_due()
            refunds = await flows.refunds.process_due()
            delay = 0.0
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = min(max(delay * 2, 0.5), 15.0)
            log.warning("scheduler_work_failed", error=repr(exc), retry_in_s=delay)
            await _sleep_or(stop, delay)
            continue
        if max(events, refunds) >= settings.event_batch_size:
            continue  # more is waiting
        await _sleep_or(wakeup, settings.event_poll_interval_s)


async def reconcile_loop(flows: PaymentFlows, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            checked = await flows.reconciliation.reconcile_due()
            await flows.events.refresh_gauges()
            if checked:
                log.info("reconciliation_pass", checked=checked)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reconciliation_failed", error=repr(exc))
        await _sleep_or(stop, flows.settings.reconcile_interval_s)


async def run_until_stopped(
    settings: PaymentsSettings, stop: asyncio.Event, providers: Providers | None = None
) -> None:
    """The scheduler process body (also started in-process by tests and the benchmark)."""
    own_providers = providers is None
    pool_size = max(4, settings.event_concurrency + 2)
    async with process_database(
        settings.database_url, make_outbox(), name="payments.scheduler", pool_size=pool_size
    ) as db:
        providers = providers or build_providers(settings)
        flows = PaymentFlows(db.uow_factory, providers, settings)
        wakeup = asyncio.Event()
        listener = WorkListener(db.engine, wakeup.set)
        tasks = [
            asyncio.create_task(listener.run(stop), name="payments-listen"),
            asyncio.create_task(work_loop(flows, wakeup, stop), name="payments-work"),
            asyncio.create_task(reconcile_loop(flows, stop), name="payments-reconcile"),
        ]
        try:
            await stop.wait()
        finally:
            wakeup.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if own_providers:
                await close_providers(providers)
