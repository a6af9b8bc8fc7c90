"""Ledger posting benchmark: transfers per second through the service's own posting path
(`ledger.handlers.credit_mining`: account lookup, idempotent insert, guarded updates, outbox
event), one transfer per transaction and batched (one transaction per batch, as a consumed batch
would be), next to `pgbench -N` on the same database in the same run.

    uv run python services/ledger/benchmarks/postings.py [--duration 10] [--concurrency 16]
        [--batch 100] [--users 10000] [--json]

Needs a reachable Postgres (DATABASE_URL, else 127.0.0.1:5432); creates a fresh database,
migrates it and drops it afterwards. Every credit goes from the one `mining_issuance` account (the
hot row) to a random user, which is the production shape of `MiningCompleted`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger import handlers
from ledger.check import check
from ledger.models import SCHEMA, make_outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.events import MiningCompleted
from scifikpi_common.testing import create_database, drop_database, migrate
from scifikpi_common.testing.database import to_asyncpg_url

SERVICE_DIR = Path(__file__).resolve().parents[1]
NOW = datetime.now(UTC)


def _event(users: list[uuid.UUID]) -> MiningCompleted:
    return MiningCompleted(
        user_id=random.choice(users), session_id=uuid.uuid4(), points_micro=1_000_000,
        completed_at=NOW,
    )  # fmt: skip


async def _run(factory: UnitOfWorkFactory, users: list[uuid.UUID], *, duration: float,
               concurrency: int, batch: int) -> float:  # fmt: skip
    done = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with factory() as uow:
                for _ in range(batch):
                    await handlers.credit_mining(uow, _event(users))
                await uow.commit()
            done += batch

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


def _pgbench(url: str, duration: int, concurrency: int) -> float | None:
    if shutil.which("pgbench") is None:
        return None
    dsn = to_asyncpg_url(url)
    env = {**os.environ}
    init = ["pgbench", "-i", "-q", "-s", "1", dsn]
    subprocess.run(init, check=True, capture_output=True, env=env)  # noqa: S603, S607
    run = ["pgbench", "-N", "-c", str(concurrency), "-j", "2", "-T", str(duration), dsn]
    out = subprocess.run(run, check=True, capture_output=True, text=True, env=env).stdout  # noqa: S603
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else None


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    name = f"ledger_bench_{uuid.uuid4().hex[:8]}"
    url = await create_database(server, name)
    try:
        await migrate(SERVICE_DIR, url)
        engine = create_engine(
            url, schema=SCHEMA, application_name="ledger.bench", pool_size=args.concurrency
        )
        factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
        users = [uuid.uuid4() for _ in range(args.users)]
        try:
            # warm up: create the accounts so the timed runs measure postings
            async with factory() as uow:
                for user in users:
                    await handlers.credit_mining(uow, _event([user]))
                await uow.commit()
            single = await _run(factory, users, duration=args.duration,
                                concurrency=args.concurrency, batch=1)  # fmt: skip
            batched = await _run(factory, users, duration=args.duration,
                                 concurrency=args.concurrency, batch=args.batch)  # fmt: skip
            async with factory() as uow:
                report = await check(uow.session)
        finally:
            await engine.dispose()
        pgbench = await asyncio.to_thread(_pgbench, url, int(args.duration), args.concurrency)
    finally:
        await drop_database(server, name)
    return {
        "ledger_postings_per_s_single": round(single),
        f"ledger_postings_per_s_batched_{args.batch}": round(batched),
        "pgbench_N_tps": round(pgbench) if pgbench else None,
        "invariants_ok": report.ok,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    result = asyncio.run(main(ns))
    if ns.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:36} {value}")
