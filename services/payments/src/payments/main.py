"""Process entry points: `payments-api`, `payments-worker`, `payments-relay`,
`payments-scheduler`."""

from __future__ import annotations

import asyncio
import signal

from scifikpi_common import runner
from scifikpi_common.logging import configure_logging
from scifikpi_common.metrics import serve_worker_metrics
from scifikpi_common.tracing import configure_tracing

from payments.consumers import consumers
from payments.models import make_outbox
from payments.settings import get_settings


def run_api() -> None:
    runner.serve_api("payments.app:create_app", get_settings())


def run_worker() -> None:
    """Consumers: account-status projection, refunds of rejected accelerations."""
    runner.run_worker(get_settings(), consumers, make_outbox())


def run_relay() -> None:
    runner.run_relay(get_settings(), make_outbox())


def run_scheduler() -> None:
    """Stored provider events, refunds and reconciliation (metrics on `metrics_port`)."""
    from payments.scheduler import run_until_stopped

    settings = get_settings()

    async def main() -> None:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        configure_tracing(f"{settings.service_name}-scheduler", settings.otlp_endpoint)
        serve_worker_metrics(settings.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_until_stopped(settings, stop)

    asyncio.run(main())
