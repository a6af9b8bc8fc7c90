"""The scheduler: due sessions complete exactly once, whatever the number of replicas."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

from _mining_helpers import DURATION_S, outbox, shift_into_past
from mining.processes import complete_due_once, prune_quotes_once, run_until_stopped
from scifikpi_common.clock import utcnow
from sqlalchemy import text


async def _start_many(client, keys, n: int) -> list[dict]:
    sessions = []
    for _ in range(n):
        r = await client.post("/mining/start", headers=keys.headers(uuid.uuid4()))
        sessions.append(r.json())
    return sessions


async def test_two_concurrent_schedulers_complete_each_session_exactly_once(
    client, keys, engine, factory
) -> None:
    sessions = await _start_many(client, keys, 60)
    due, not_due = sessions[:50], sessions[50:]
    for s in due:
        await shift_into_past(engine, s["id"], DURATION_S)
    for _ in range(3):  # several rounds of two racing passes with small batches
        await asyncio.gather(
            complete_due_once(factory, batch_size=7),
            complete_due_once(factory, batch_size=7),
            complete_due_once(factory, batch_size=7),
            complete_due_once(factory, batch_size=7),
        )
    while await complete_due_once(factory, batch_size=7):
        pass
    completed = await outbox(engine, "MiningCompleted")
    assert Counter(e["session_id"] for e in completed) == {s["id"]: 1 for s in due}
    by_id = {s["id"]: s for s in due}
    assert all(e["points_micro"] == by_id[e["session_id"]]["target_micro"] for e in completed)
    async with engine.connect() as conn:
        statuses = dict(
            (await conn.execute(text("SELECT id::text, status FROM mining.sessions"))).all()
        )
    assert {statuses[s["id"]] for s in due} == {"completed"}
    assert {statuses[s["id"]] for s in not_due} == {"active"}


async def test_the_loop_completes_and_stops(client, keys, engine, factory, settings):
    [session] = await _start_many(client, keys, 1)
    await shift_into_past(engine, session["id"], DURATION_S)
    stop = asyncio.Event()
    settings = settings.model_copy(update={"complete_interval_s": 0.05})
    task = asyncio.create_task(run_until_stopped(factory, stop, settings))
    for _ in range(100):
        if await outbox(engine, "MiningCompleted"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(await outbox(engine, "MiningCompleted")) == 1


async def test_prune_deletes_only_long_expired_unused_quotes(client, keys, engine, factory):
    user = uuid.uuid4()
    await client.post("/mining/start", headers=keys.headers(user))
    for _ in range(2):
        await client.post(
            "/mining/acceleration/quote", json={"seconds": 60}, headers=keys.headers(user)
        )
    assert await prune_quotes_once(factory, retention_s=60) == 0
    later = utcnow() + timedelta(seconds=900 + 61)
    assert await prune_quotes_once(factory, retention_s=60, now=later) == 2
