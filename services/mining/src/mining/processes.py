"""The time-driven loop of `mining-scheduler`: completes sessions whose `ends_at` has passed,
and prunes old quotes.

Any number of replicas may run: each batch claims due sessions with `FOR UPDATE SKIP LOCKED`
and completes them with a guarded transition (`… WHERE status = 'active' RETURNING`), writing
`MiningCompleted` in the same transaction, so every session completes exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta

from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWorkFactory, committing
from scifikpi_common.logging import get_logger

from mining import handlers
from mining.settings import MiningSettings

log = get_logger(__name__)


async def complete_due_once(
    factory: UnitOfWorkFactory, *, batch_size: int, now: datetime | None = None
) -> int:
    """One batch in one transaction; returns how many sessions it completed."""
    async with factory() as uow, committing(uow):
        done = await handlers.complete_due_sessions(uow, now or utcnow(), batch_size)
    if done:
        log.info("sessions_completed", count=done)
    return done


async def prune_quotes_once(
    factory: UnitOfWorkFactory, *, retention_s: int, now: datetime | None = None
) -> int:
    """One transaction: delete unused quotes expired more than `retention_s` ago."""
    expired_before = (now or utcnow()) - timedelta(seconds=retention_s)
    async with factory() as uow, committing(uow):
        pruned = await handlers.prune_quotes(uow, expired_before)
    if pruned:
        log.info("quotes_pruned", count=pruned)
    return pruned


async def run_until_stopped(
    factory: UnitOfWorkFactory, stop: asyncio.Event, settings: MiningSettings
) -> None:
    next_prune = time.monotonic()
    delay = settings.complete_interval_s
    log.info(
        "scheduler_started",
        interval_s=delay,
        batch_size=settings.complete_batch_size,
        session_duration_s=settings.session_duration_s,
    )
    while not stop.is_set():
        try:
            while await complete_due_once(factory, batch_size=settings.complete_batch_size) >= (
                settings.complete_batch_size
            ):
                pass  # a full batch: more may be due
            if time.monotonic() >= next_prune:
                await prune_quotes_once(factory, retention_s=settings.quote_retention_s)
                next_prune = time.monotonic() + settings.prune_interval_s
            delay = settings.complete_interval_s
        except Exception as exc:
            # Database down: back off (capped) instead of spinning; nothing is lost, only late.
            delay = min(max(delay * 2, settings.complete_interval_s), 15.0)
            log.warning("scheduler_pass_failed", error=repr(exc), retry_in_s=delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
