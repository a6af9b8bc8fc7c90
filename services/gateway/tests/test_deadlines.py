"""One timer for many fixed-length timeouts: expiry, completion, outside cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest
from gateway.deadlines import Deadlines


async def test_expires_as_asyncio_timeout_does() -> None:
    deadlines = Deadlines(0.1)
    started = time.monotonic()
    with pytest.raises(TimeoutError), deadlines.guard():
        await asyncio.sleep(5)
    assert 0.09 < time.monotonic() - started < 0.5
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    await asyncio.sleep(0)  # no cancellation left pending on the task


async def test_finished_blocks_are_not_cancelled_later() -> None:
    deadlines = Deadlines(0.05)
    for _ in range(3):
        with deadlines.guard():
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # past every deadline: nothing fires at this task


async def test_many_tasks_each_get_their_own_deadline() -> None:
    deadlines = Deadlines(0.2)

    async def wait(delay: float) -> str:
        await asyncio.sleep(delay)  # staggered starts: deadlines queue in order
        try:
            with deadlines.guard():
                await asyncio.sleep(0.3 if delay in (0.02, 0.06) else 0.01)
        except TimeoutError:
            return "timeout"
        return "ok"

    delays = [0.0, 0.02, 0.04, 0.06, 0.08]
    results = await asyncio.gather(*(wait(d) for d in delays))
    assert results == ["ok", "timeout", "ok", "timeout", "ok"]
    assert len(deadlines._queue) <= 1  # finished entries are dropped


async def test_an_outside_cancellation_stays_one() -> None:
    deadlines = Deadlines(5)

    async def guarded() -> None:
        with deadlines.guard():
            await asyncio.sleep(5)

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_expired_then_cancelled_from_outside_stays_cancelled() -> None:
    deadlines = Deadlines(0.05)

    async def guarded() -> None:
        with deadlines.guard():
            try:
                await asyncio.sleep(5)
            finally:
                await asyncio.sleep(0.1)  # still inside when the outside cancel comes

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.08)  # our deadline has fired: the task is in its cleanup
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
