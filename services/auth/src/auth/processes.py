"""Time-driven loops of the auth service: housekeeping, run by `auth-worker` next to the consumers.

Each pass is one unit of work, committed here (the loop is the edge); the use case it runs
(`handlers.purge_expired`) never commits.
"""

from __future__ import annotations

import asyncio
import contextlib

from scifikpi_common.db import (
    UnitOfWorkFactory,
    process_database,
)
from scifikpi_common.logging import get_logger

from auth import handlers
from auth.models import make_outbox
from auth.settings import AuthSettings

log = get_logger(__name__)

HOUSEKEEPING_INTERVAL_S = 600.0


async def purge_once(uow_factory: UnitOfWorkFactory, settings: AuthSettings) -> tuple[int, int]:
    """One housekeeping pass: expired refresh tokens and ended login-failure windows go."""
    async with uow_factory() as uow:
        tokens, windows = await handlers.purge_expired(uow, settings)
        await uow.commit()
    if tokens or windows:
        log.info("housekeeping_purged", refresh_tokens=tokens, login_failure_windows=windows)
    return tokens, windows


async def housekeeping_until_stopped(
    uow_factory: UnitOfWorkFactory,
    stop: asyncio.Event,
    settings: AuthSettings,
    *,
    interval_s: float = HOUSEKEEPING_INTERVAL_S,
) -> None:
    """A pass every `interval_s` until `stop` is set; a failed pass is retried next round."""
    while not stop.is_set():
        try:
            await purge_once(uow_factory, settings)
        except Exception as exc:  # the database may be down: try again next round
            log.warning("housekeeping_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


async def housekeeping(settings: AuthSettings, stop: asyncio.Event) -> None:
    """The housekeeping loop on its own one-connection pool (the worker's second task)."""
    async with process_database(
        settings.database_url, make_outbox(), name="auth.housekeeping", pool_size=1
    ) as db:
        await housekeeping_until_stopped(db.uow_factory, stop, settings)
