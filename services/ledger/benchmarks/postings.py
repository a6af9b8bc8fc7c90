"""Ledger posting benchmark: `MiningCompleted` credits per second through the service's own
posting paths, next to `pgbench -N` on the same database in the same run:

- single: `ledger.handlers.credit_mining`, one transfer per transaction (one `post_transfer`
  call + one outbox statement + commit), `--concurrency` workers;
- batched: `ledger.handlers.credit_mining_batch`, one transaction per `--batch` events (one
  `credit_batch` call + one bulk outbox statement + commit), `--batch-concurrency` workers;
- pgbench: `pgbench -N` (simple update, no branch/teller hot rows), `--concurrency` clients;
- floor: the single path's SQL run by pgbench itself (a C client, prepared statements, no
  Python): BEGIN, the same `post_transfer` call, the outbox statement as `scifikpi_common.outbox`
  sends it (insert + `pg_notify`), COMMIT; and the same without the `pg_notify`. What the
  database allows the single path at best, whatever the client costs (docs/adr/0010).

    uv run python services/ledger/benchmarks/postings.py [--duration 10] [--concurrency 16]
        [--batch 500] [--batch-concurrency 4] [--users 10000] [--repeat 1] [--no-floor] [--json]

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
from ledger.models import SCHEMA, make_outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.events import MiningCompleted
from scifikpi_common.testing import create_database, drop_database, migrate
from scifikpi_common.testing.database import to_asyncpg_url
from sqlalchemy import text

SERVICE_DIR = Path(__file__).resolve().parents[1]
NOW = datetime.now(UTC)


def _event(users: list[uuid.UUID]) -> MiningCompleted:
    return MiningCompleted(
        user_id=random.choice(users),
        session_id=uuid.uuid4(),
        points_micro=1_000_000,
        completed_at=NOW,
    )


async def _run(
    factory: UnitOfWorkFactory,
    users: list[uuid.UUID],
    *,
    duration: float,
    concurrency: int,
    batch: int | None,
) -> tuple[float, float]:
    """(postings per second, the benchmark process's CPU use in cores); `batch=None` is the
    single path (one transfer per transaction)."""
    done = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            async with factory() as uow:
                if batch is None:
                    await handlers.credit_mining(uow, _event(users))
                else:
                    await handlers.credit_mining_batch(uow, [_event(users) for _ in range(batch)])
                await uow.commit()
            done += batch or 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return done / wall, (time.process_time() - cpu) / wall


_FLOOR_POST = """\\set u random(1, {users})
BEGIN;
SELECT * FROM ledger.post_transfer('mining:' || gen_random_uuid(),
  ledger.account_of('mining_issuance', NULL, 'points'),
  ledger.account_of('user_points', (SELECT user_id FROM ledger.bench_users WHERE n = :u), 'points'),
  1000000, 'mining', (SELECT user_id FROM ledger.bench_users WHERE n = :u),
  '{{"session_id": "x"}}'::jsonb, NULL);
WITH ins AS (INSERT INTO ledger.outbox (event_id, topic, key, event_type, payload, headers)
  SELECT gen_random_uuid(), 'ledger.points.v1', 'k', 'PointsCredited', '{{"a": 1}}'::jsonb,
         '{{}}'::jsonb RETURNING 1)
SELECT {notify} FROM (SELECT count(*) FROM ins) AS n;
COMMIT;
"""


def _pgbench_floor(
    url: str, users: list[uuid.UUID], duration: int, concurrency: int, *, notify: bool
) -> float | None:
    """tps of the single path's statements sent by pgbench (`-M prepared`): the server's part."""
    if shutil.which("pgbench") is None:
        return None
    script = Path(f"/tmp/ledger_bench_floor_{os.getpid()}.sql")  # noqa: S108 - a scratch file
    script.write_text(
        _FLOOR_POST.format(
            users=len(users), notify="pg_notify('ledger_outbox', '')" if notify else "1"
        )
    )
    dsn = to_asyncpg_url(url)
    run = ["pgbench", "-n", "-M", "prepared", "-f", str(script), "-c", str(concurrency)]
    run += ["-j", "2", "-T", str(duration), dsn]
    try:
        out = subprocess.run(run, check=True, capture_output=True, text=True).stdout  # noqa: S603
    finally:
        script.unlink(missing_ok=True)
    match = re.search(r"tps = ([0-9.]+)", out)
    return float(match.group(1)) if match else None


async def _bench_users(factory: UnitOfWorkFactory, users: list[uuid.UUID]) -> None:
    """The users as a numbered table, for the pgbench floor script to pick at random."""
    async with factory() as uow:
        await uow.session.execute(
            text("CREATE TABLE ledger.bench_users (n int PRIMARY KEY, user_id uuid NOT NULL)")
        )
        await uow.session.execute(
            text(
                "INSERT INTO ledger.bench_users"
                " SELECT n, u FROM unnest(CAST(:users AS uuid[])) WITH ORDINALITY AS t(u, n)"
            ),
            {"users": users},
        )
        await uow.commit()


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
            for i in range(0, len(users), 1000):
                async with factory() as uow:
                    await handlers.credit_mining_batch(
                        uow, [_event([u]) for u in users[i : i + 1000]]
                    )
                    await uow.commit()
            if args.floor:
                await _bench_users(factory, users)
            runs = []
            for _ in range(args.repeat):
                single, single_cpu = await _run(
                    factory, users, duration=args.duration, concurrency=args.concurrency, batch=None
                )
                batched, batched_cpu = await _run(
                    factory,
                    users,
                    duration=args.duration,
                    concurrency=args.batch_concurrency,
                    batch=args.batch,
                )
                pgbench = await asyncio.to_thread(
                    _pgbench, url, int(args.duration), args.concurrency
                )
                floor = floor_no_notify = None
                if args.floor:
                    floor = await asyncio.to_thread(
                        _pgbench_floor,
                        url,
                        users,
                        int(args.duration),
                        args.concurrency,
                        notify=True,
                    )
                    floor_no_notify = await asyncio.to_thread(
                        _pgbench_floor,
                        url,
                        users,
                        int(args.duration),
                        args.concurrency,
                        notify=False,
                    )
                runs.append(
                    {
                        "single_per_s": round(single),
                        "batched_per_s": round(batched),
                        "client_cpu_single": round(single_cpu, 2),
                        "client_cpu_batched": round(batched_cpu, 2),
                        "pgbench_N_tps": round(pgbench) if pgbench else None,
                        "floor_tps": round(floor) if floor else None,
                        "floor_no_notify_tps": round(floor_no_notify) if floor_no_notify else None,
                        "loadavg": round(os.getloadavg()[0], 2),
                    }
                )
                if not args.json:
                    print(f"run {len(runs)}: {runs[-1]}", flush=True)
            started = time.perf_counter()
            async with factory() as uow:
                report = await handlers.check_invariants(uow)
            check_s = time.perf_counter() - started
        finally:
            await engine.dispose()
    finally:
        await drop_database(server, name)
    return {
        "runs": runs,
        "invariants_ok": report.ok,
        "problems": report.problems[:5],
        "transfers": report.transfers,
        "check_s": round(check_s, 1),
        "concurrency_single": args.concurrency,
        "concurrency_batched": args.batch_concurrency,
        "batch": args.batch,
        "users": args.users,
        "duration_s": args.duration,
        "cpus": os.cpu_count(),
    }


def _table(result: dict[str, Any]) -> str:
    single = f"single (1/txn, c={result['concurrency_single']})"
    batched = f"batched ({result['batch']}/txn, c={result['concurrency_batched']})"
    pgbench = f"pgbench -N (c={result['concurrency_single']})"
    head = f"{'run':>3}  {single:>24}  {batched:>26}  {pgbench:>20}  client CPU (cores)"
    head += "  floor tps (notify / none)  load"
    lines = [head, "-" * len(head)]
    for i, run in enumerate(result["runs"], 1):
        per_posting = 1000 * run["client_cpu_single"] / max(run["single_per_s"], 1)
        lines.append(
            f"{i:>3}  {run['single_per_s']:>22,}/s  {run['batched_per_s']:>24,}/s  "
            f"{run['pgbench_N_tps'] or 0:>16,} tps  "
            f"{run['client_cpu_single']:.2f} single / {run['client_cpu_batched']:.2f} batched"
            f" ({per_posting:.2f} ms/posting)  "
            f"{run['floor_tps'] or 0:>9,} / {run['floor_no_notify_tps'] or 0:>6,}  {run['loadavg']}"
        )
    lines.append(
        f"invariants_ok={result['invariants_ok']} transfers={result['transfers']:,} "
        f"(ledger-admin check took {result['check_s']} s) "
        f"users={result['users']:,} duration={result['duration_s']}s cpus={result['cpus']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batch-concurrency", type=int, default=4)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-floor", dest="floor", action="store_false")
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    result = asyncio.run(main(ns))
    print(json.dumps(result) if ns.json else _table(result))
