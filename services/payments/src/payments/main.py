"""Process entry points: `payments-api`, `payments-worker`, `payments-relay`,
`payments-scheduler`."""

from __future__ import annotations

import asyncio

from scifikpi_common import runner

from payments.consumers import consumers
from payments.models import make_outbox
from payments.settings import get_settings

processes = runner.ServiceProcesses("payments.app:create_app", get_settings, consumers, make_outbox)
run_api, run_worker, run_relay = processes.api, processes.worker, processes.relay


def run_scheduler() -> None:
    """Stored provider events, refunds and reconciliation (metrics on `metrics_port`)."""
    from payments.processes import run_until_stopped

    settings = get_settings()

    async def body(stop: asyncio.Event) -> None:
        await run_until_stopped(settings, stop)

    runner.run_until_signalled(settings, "scheduler", body)
