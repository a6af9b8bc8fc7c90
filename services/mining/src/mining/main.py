"""Process entry points: `mining-api`, `mining-worker`, `mining-relay`, `mining-scheduler`."""

from __future__ import annotations

import asyncio
import signal

from scifikpi_common import runner
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.logging import configure_logging
from scifikpi_common.metrics import serve_worker_metrics
from scifikpi_common.tracing import configure_tracing

from mining.consumers import consumers
from mining.models import make_outbox
from mining.settings import get_settings


def run_api() -> None:
    runner.serve_api("mining.app:create_app", get_settings())


def run_worker() -> None:
    """Consumers of auth, ledger and payments events."""
    runner.run_worker(get_settings(), consumers, make_outbox())


def run_relay() -> None:
    runner.run_relay(get_settings(), make_outbox())


def run_scheduler() -> None:
    """Completes due sessions (any number of replicas) and prunes expired quotes."""
    from mining.scheduler import run_until_stopped

    settings = get_settings()

    async def main() -> None:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        configure_tracing(f"{settings.service_name}-scheduler", settings.otlp_endpoint)
        serve_worker_metrics(settings.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = create_engine(
            settings.database_url, schema=settings.db_schema,
            application_name="mining.scheduler", pool_size=2,
        )  # fmt: skip
        try:
            await run_until_stopped(
                UnitOfWorkFactory(create_sessionmaker(engine), make_outbox()), stop, settings
            )
        finally:
            await engine.dispose()

    asyncio.run(main())
