"""Process entry points: `auth-api`, `auth-worker`, `auth-relay`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta

from scifikpi_common import runner
from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWork, create_engine, create_sessionmaker
from scifikpi_common.logging import configure_logging, get_logger
from scifikpi_common.metrics import serve_worker_metrics
from scifikpi_common.tracing import configure_tracing

from auth.consumers import consumers
from auth.models import make_outbox
from auth.repository import LoginFailureRepository, RefreshTokenRepository
from auth.settings import AuthSettings, get_settings

log = get_logger(__name__)

HOUSEKEEPING_INTERVAL_S = 600.0


def run_api() -> None:
    runner.serve_api("auth.app:create_app", get_settings())


def run_relay() -> None:
    runner.run_relay(get_settings(), make_outbox())


def run_worker() -> None:
    """Consumers plus housekeeping (expired refresh tokens, old login-failure windows)."""
    settings = get_settings()

    async def main() -> None:
        configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
        configure_tracing(f"{settings.service_name}-worker", settings.otlp_endpoint)
        serve_worker_metrics(settings.metrics_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await asyncio.gather(
            runner.consume_until_stopped(settings, consumers, make_outbox(), stop),
            housekeeping_until_stopped(settings, stop),
        )

    asyncio.run(main())


async def purge_expired(uow: UnitOfWork, settings: AuthSettings) -> tuple[int, int]:
    """Delete refresh tokens expired a day ago and login-failure windows that ended."""
    now = utcnow()
    tokens = await RefreshTokenRepository(uow.session).delete_expired(now - timedelta(days=1))
    windows = await LoginFailureRepository(uow.session).delete_older_than(
        now - timedelta(seconds=2 * settings.login_window_s)
    )
    return tokens, windows


async def housekeeping_until_stopped(settings: AuthSettings, stop: asyncio.Event) -> None:
    engine = create_engine(
        settings.database_url,
        schema=settings.db_schema,
        application_name="auth.housekeeping",
        pool_size=1,
    )
    sessionmaker = create_sessionmaker(engine)
    outbox = make_outbox()
    try:
        while not stop.is_set():
            try:
                async with UnitOfWork(sessionmaker, outbox) as uow:
                    tokens, windows = await purge_expired(uow, settings)
                    await uow.commit()
                if tokens or windows:
                    log.info(
                        "housekeeping_purged", refresh_tokens=tokens, login_failure_windows=windows
                    )
            except Exception as exc:  # the database may be down: try again next round
                log.warning("housekeeping_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HOUSEKEEPING_INTERVAL_S)
    finally:
        await engine.dispose()
