"""Analytics ingest benchmark: events applied per second through the real consumer path.

Every event is a real envelope (`Envelope.wrap(...).to_bytes()`) in a `Delivery`, handed to
`analytics.consumers.consumers.process_batch` exactly as the worker's batch subscriber does: parse,
one multi-row inbox claim per run, `projection.handlers.apply_batch` (facts, rollups, progress),
commit. The mix is every topic: `--users` whole user journeys (register, deposit, activate, mine
with an acceleration, credit, buy and mint an NFT, a failed purchase, wallet, transfer: 19
events on 8 topics), with catalog changes and a share of redeliveries. As on the worker, each
topic is its own stream, cut in polls of `--batch` (2,000) events; `--concurrency` streams run at
once (the worker runs one subscriber per topic).

    uv run python services/analytics/benchmarks/ingest.py [--users 3000] [--batch 2000]
        [--concurrency 1] [--redeliver 0.05] [--json]

Needs a reachable Postgres (DATABASE_URL, else 127.0.0.1:5432); creates a fresh database,
migrates it and drops it afterwards. Target: >= 5,000 events/s on the 2-core dev machine
(measured, not asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analytics.consumers import consumers
from analytics.models import SCHEMA, make_outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.events import Envelope, Event
from scifikpi_common.logging import configure_logging
from scifikpi_common.messaging import Delivery
from scifikpi_common.testing import create_database, drop_database, migrate

SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(SERVICE_DIR / "tests"))

from _analytics_helpers import catalog_changed, journey  # noqa: E402


def _deliveries(users: int, redeliver: float, seed: int = 7) -> dict[str, list[Delivery]]:
    """topic -> its stream of deliveries, each topic in the order its events happened."""
    rnd = random.Random(seed)
    items = [uuid.uuid4() for _ in range(20)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events: list[Event] = [catalog_changed(i, start) for i in items]
    for n in range(users):
        events += journey(
            start=start + timedelta(minutes=7 * n),
            item=rnd.choice(items),
            account_type=rnd.choice(["individual", "individual", "legal_entity"]),
            country=rnd.choice(["DE", "RU", "IN", "FR", "US"]),
            provider=rnd.choice(["stripe", "yoomoney"]),
        )
    streams: dict[str, list[Delivery]] = {}
    for event in events:
        envelope = Envelope.wrap(event, producer="bench")
        d = Delivery(topic=event.TOPIC, body=envelope.to_bytes(), key=envelope.key.encode())
        streams.setdefault(event.TOPIC, []).append(d)
        if rnd.random() < redeliver:  # the broker delivers it again, a little later
            streams[event.TOPIC].append(d)
    return streams


async def _run(
    factory: UnitOfWorkFactory, streams: dict[str, list[Delivery]], batch: int, concurrency: int
) -> dict[str, Any]:
    polls = [
        (topic, stream[i : i + batch])
        for topic, stream in streams.items()
        for i in range(0, len(stream), batch)
    ]
    queue: asyncio.Queue[tuple[str, list[Delivery]]] = asyncio.Queue()
    for poll in polls:
        queue.put_nowait(poll)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()

    async def worker() -> None:
        while not queue.empty():
            _, poll = queue.get_nowait()
            started = time.perf_counter()
            for result in await consumers.process_batch(poll, factory, None):
                outcomes.update(result)
            latencies.append(time.perf_counter() - started)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    events = sum(len(p) for _, p in polls)
    ordered = sorted(latencies)
    return {
        "events": events,
        "polls": len(polls),
        "wall_s": round(wall, 2),
        "events_per_s": round(events / wall),
        "client_cpu_cores": round((time.process_time() - cpu) / wall, 2),
        "poll_p50_ms": round(statistics.median(ordered) * 1000, 1),
        "poll_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "outcomes": dict(outcomes),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    name = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    url = await create_database(server, name)
    try:
        await migrate(SERVICE_DIR, url)
        engine = create_engine(
            url, schema=SCHEMA, application_name="analytics.bench", pool_size=args.concurrency + 1
        )
        factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
        try:
            # warm up on a separate small set: connections, statement caches, imports
            await _run(factory, _deliveries(50, 0.0, seed=1), args.batch, 1)
            streams = _deliveries(args.users, args.redeliver)
            runs = [await _run(factory, streams, args.batch, args.concurrency)]
            # the same polls again: every event a duplicate (a replay the inbox turns away)
            replay = await _run(factory, streams, args.batch, args.concurrency)
        finally:
            await engine.dispose()
    finally:
        await drop_database(server, name)
    return {
        "runs": runs,
        "replay_events_per_s": replay["events_per_s"],
        "replay_outcomes": replay["outcomes"],
        "users": args.users,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "topics": len({t for t in streams}),
        "cpus": os.cpu_count(),
    }


def _table(result: dict[str, Any]) -> str:
    (run,) = result["runs"]
    return "\n".join(
        [
            f"analytics ingest: {run['events']:,} events on {result['topics']} topics "
            f"({result['users']:,} user journeys, {run['polls']} polls of <= {result['batch']:,}, "
            f"concurrency {result['concurrency']}, {result['cpus']} cpus)",
            f"  applied     {run['events_per_s']:>8,} events/s  ({run['wall_s']} s, poll p50 "
            f"{run['poll_p50_ms']} ms, p99 {run['poll_p99_ms']} ms, client CPU "
            f"{run['client_cpu_cores']} cores)  outcomes {run['outcomes']}",
            f"  replayed    {result['replay_events_per_s']:>8,} events/s  (every event a "
            f"duplicate: {result['replay_outcomes']})",
            "  target >= 5,000 events/s applied",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=3_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--redeliver", type=float, default=0.05)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    configure_logging("analytics", level="WARNING", fmt="console")
    result = asyncio.run(main(ns))
    print(json.dumps(result) if ns.json else _table(result))
