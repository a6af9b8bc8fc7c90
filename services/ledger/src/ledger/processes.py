"""The time-driven loop of `ledger-scheduler`: the hold-expiry sweeper, which expires holds past
`expires_at`, once each.

Any number of replicas may run: each expiry is a resolution transfer guarded by the partial
unique index on `pending_id`, so a hold captured (or expired by another replica) meanwhile is left
alone. One transaction per hold (committed here, the edge) keeps a failure from holding back the
others.
"""

from __future__ import annotations

import asyncio
import contextlib

from scifikpi_common.db import UnitOfWorkFactory, committing
from scifikpi_common.logging import get_logger

from ledger import handlers

log = get_logger(__name__)


async def sweep_once(uow_factory: UnitOfWorkFactory, batch_size: int) -> int:
    """Expire due holds; returns how many this call expired."""
    async with uow_factory() as uow:  # a read: nothing to commit
        due = await handlers.due_holds(uow, batch_size)
    expired = 0
    for hold in due:
        async with uow_factory() as uow, committing(uow):
            posting = await handlers.expire(uow, hold)
        if posting.created:
            expired += 1
    if expired:
        log.info("holds_expired", count=expired)
    return expired


async def run_until_stopped(
    uow_factory: UnitOfWorkFactory, stop: asyncio.Event, *, interval_s: float, batch_size: int
) -> None:
    log.info("sweeper_started", interval_s=interval_s, batch_size=batch_size)
    while not stop.is_set():
        try:
            while await sweep_once(uow_factory, batch_size) >= batch_size:
                pass
        except Exception:
            log.exception("sweep_failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
