"""Process entry points shared by every service: API server, consumer worker, outbox relay.

Each runs as its own process (docs/architecture.md) so they scale apart; SIGTERM/SIGINT stop
them gracefully, finishing the message or batch in hand. A service's `main.py` declares its
processes once with `ServiceProcesses` and adds only what is its own (a scheduler loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import uvicorn

from scifikpi_common.db import (
    UnitOfWorkFactory,
    create_engine,
    create_sessionmaker,
    process_database,
)
from scifikpi_common.logging import configure_logging, get_logger
from scifikpi_common.messaging import (
    EventConsumers,
    Membership,
    instance_id_from_env,
    make_broker,
)
from scifikpi_common.metrics import serve_worker_metrics
from scifikpi_common.outbox import Outbox
from scifikpi_common.relay import OutboxRelay, make_producer
from scifikpi_common.settings import ServiceSettings
from scifikpi_common.tracing import configure_tracing

log = get_logger(__name__)


def serve_api(app_factory: str, settings: ServiceSettings) -> None:
    """Run `module:create_app` under uvicorn (uvloop, httptools, our JSON logging)."""
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    uvicorn.run(
        app_factory,
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _prepare(settings: ServiceSettings, role: str) -> None:
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    configure_tracing(f"{settings.service_name}-{role}", settings.otlp_endpoint)
    serve_worker_metrics(settings.metrics_port)


async def consume_until_stopped(
    settings: ServiceSettings,
    consumers: EventConsumers,
    outbox: Outbox,
    stop: asyncio.Event,
    *,
    membership: Membership | None = None,
) -> None:
    """Consume until `stop`; a static group member when `CONSUMER_INSTANCE_ID` is set (a restart
    then does not rebalance the group), unless `membership` says otherwise."""
    if membership is None:
        membership = Membership(instance_id_from_env(settings.service_name))
    engine = create_engine(
        settings.database_url,
        schema=outbox.table.schema or settings.service_name,
        application_name=f"{settings.service_name}.worker",
        pool_size=settings.db_pool_size,
    )
    broker = make_broker(
        settings.kafka_bootstrap_servers, client_id=f"{settings.service_name}-worker"
    )
    consumers.attach(
        broker,
        UnitOfWorkFactory(create_sessionmaker(engine), outbox),
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        membership=membership,
    )
    try:
        # Joining a consumer group can take many seconds; a stop request must not wait for it.
        starting = asyncio.ensure_future(broker.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()
            log.info(
                "worker_started",
                topics=consumers.topics,
                group=consumers.group_id,
                instance_id=membership.instance_id,
            )
            await stopping
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
    finally:
        await broker.stop()
        await engine.dispose()


async def relay_until_stopped(
    settings: ServiceSettings, outbox: Outbox, stop: asyncio.Event
) -> None:
    engine = create_engine(
        settings.database_url,
        schema=outbox.table.schema or settings.service_name,
        application_name=f"{settings.service_name}.relay",
        pool_size=2,
    )
    producer = make_producer(
        settings.kafka_bootstrap_servers, client_id=f"{settings.service_name}-relay"
    )
    try:
        await _start_with_retry(producer.start, stop, "kafka producer")
        await OutboxRelay(engine, outbox, producer, retention=settings.outbox_retention).run(stop)
    finally:
        await producer.stop()
        await engine.dispose()


async def _start_with_retry(
    start: Callable[[], Awaitable[object]], stop: asyncio.Event, what: str
) -> None:
    delay = 0.5
    while not stop.is_set():
        try:
            await start()
            return
        except Exception as exc:
            log.warning("start_failed", what=what, error=repr(exc), retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


def run_worker(settings: ServiceSettings, consumers: EventConsumers, outbox: Outbox) -> None:
    async def main() -> None:
        _prepare(settings, "worker")
        await consume_until_stopped(settings, consumers, outbox, _stop_event())

    asyncio.run(main())


def run_relay(settings: ServiceSettings, outbox: Outbox) -> None:
    async def main() -> None:
        _prepare(settings, "relay")
        await relay_until_stopped(settings, outbox, _stop_event())

    asyncio.run(main())


def run_until_signalled(
    settings: ServiceSettings, role: str, body: Callable[[asyncio.Event], Awaitable[None]]
) -> None:
    """A worker-like process (logging, tracing, /metrics) running `body(stop)` until
    SIGTERM/SIGINT sets `stop`."""

    async def main() -> None:
        _prepare(settings, role)
        await body(_stop_event())

    asyncio.run(main())


def run_scheduler(
    settings: ServiceSettings,
    loop: Callable[[UnitOfWorkFactory, asyncio.Event], Awaitable[None]],
    outbox: Outbox,
    *,
    pool_size: int = 2,
) -> None:
    """A scheduler process: `loop(uow_factory, stop)` on its own small connection pool."""

    async def body(stop: asyncio.Event) -> None:
        name = f"{settings.service_name}.scheduler"
        async with process_database(
            settings.database_url, outbox, name=name, pool_size=pool_size
        ) as db:
            await loop(db.uow_factory, stop)

    run_until_signalled(settings, "scheduler", body)


@dataclass(frozen=True)
class ServiceProcesses:
    """The API, worker and relay processes of a service, for its console scripts:

    processes = ServiceProcesses("ledger.app:create_app", get_settings, consumers, make_outbox)
    run_api, run_worker, run_relay = processes.api, processes.worker, processes.relay
    """

    app_factory: str
    settings: Callable[[], ServiceSettings]
    consumers: EventConsumers
    make_outbox: Callable[[], Outbox]

    def api(self) -> None:
        serve_api(self.app_factory, self.settings())

    def worker(self) -> None:
        run_worker(self.settings(), self.consumers, self.make_outbox())

    def relay(self) -> None:
        run_relay(self.settings(), self.make_outbox())
