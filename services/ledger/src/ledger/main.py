"""Process entry points: `ledger-api`, `ledger-worker`, `ledger-relay`, `ledger-scheduler`."""

from __future__ import annotations

import asyncio

from scifikpi_common import runner
from scifikpi_common.db import UnitOfWorkFactory

from ledger.consumers import consumers
from ledger.models import make_outbox
from ledger.settings import get_settings

processes = runner.ServiceProcesses("ledger.app:create_app", get_settings, consumers, make_outbox)
run_api, run_worker, run_relay = processes.api, processes.worker, processes.relay


def run_scheduler() -> None:
    """The hold-expiry sweeper (any number of replicas)."""
    from ledger.processes import run_until_stopped

    settings = get_settings()

    async def loop(factory: UnitOfWorkFactory, stop: asyncio.Event) -> None:
        await run_until_stopped(
            factory,
            stop,
            interval_s=settings.sweep_interval_s,
            batch_size=settings.sweep_batch_size,
        )

    runner.run_scheduler(settings, loop, make_outbox())
