"""Process entry points: `mining-api`, `mining-worker`, `mining-relay`, `mining-scheduler`."""

from __future__ import annotations

import asyncio

from scifikpi_common import runner
from scifikpi_common.db import UnitOfWorkFactory

from mining.consumers import consumers
from mining.models import make_outbox
from mining.settings import get_settings

processes = runner.ServiceProcesses("mining.app:create_app", get_settings, consumers, make_outbox)
run_api, run_worker, run_relay = processes.api, processes.worker, processes.relay


def run_scheduler() -> None:
    """Completes due sessions (any number of replicas) and prunes expired quotes."""
    from mining.processes import run_until_stopped

    settings = get_settings()

    async def loop(factory: UnitOfWorkFactory, stop: asyncio.Event) -> None:
        await run_until_stopped(factory, stop, settings)

    runner.run_scheduler(settings, loop, make_outbox())
