"""Analytics query benchmark: the admin reads over 1,000,000 facts spread across a year.

Loads the facts (accounts, payments, sessions, accelerations, point movements, purchases, catalog
items, transfers) with COPY into a fresh database migrated to the `analytics` schema, and their
rollups (built with `analytics.domain.delta`/`merge`, as the projection builds them), then times
the use cases the routes call:

- `summary`: every metric all-time (`rollup_totals`) + last 24 h / 7 d / 30 d (`rollups` through
  `ix_rollups_metric_bucket_start`), and the figures over facts;
- a year of daily buckets in Europe/Moscow: 3 metrics, and every metric;

and prints p50/p99 next to the targets (summary <= 50 ms, a year of days <= 200 ms) with
EXPLAIN (ANALYZE, BUFFERS) of the hot queries.

    uv run python services/analytics/benchmarks/queries.py [--facts 1000000] [--runs 50] [--json]

Needs a reachable Postgres (DATABASE_URL, else 127.0.0.1:5432); drops the database afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from analytics.domain import METRICS, Delta, delta, merge
from analytics.figures import handlers
from analytics.figures.domain import Interval, bucket_bounds, windows
from analytics.figures.repository import FACTS, series_statement, window_sums_statement
from analytics.models import SCHEMA, make_outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.testing import create_database, drop_database, migrate
from scifikpi_common.testing.database import to_asyncpg_url
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

SERVICE_DIR = Path(__file__).resolve().parents[1]
NOW = datetime.now(UTC)
YEAR = timedelta(days=365)
#: share of the facts per table (the rest of 1.0 is accounts)
SHARES = {
    "payments": 0.15,
    "sessions": 0.25,
    "accelerations": 0.05,
    "point_movements": 0.30,
    "purchases": 0.10,
    "transfers": 0.05,
}
COUNTRIES = ["DE", "RU", "US", "FR", "IN", "BR", "GB", "KZ", "TR", "AE"]
MONEY = [("stripe", "USD"), ("stripe", "EUR"), ("yoomoney", "RUB")]
PURPOSES = ["registration", "topup", "acceleration"]
PAID = {"registration": "deposits", "topup": "topups", "acceleration": "accelerations"}
KINDS = {"credit": "credited", "reserve": "reserved", "debit": "debited", "release": "released"}


def _when(rng: random.Random) -> datetime:
    return NOW - timedelta(seconds=rng.randrange(int(YEAR.total_seconds())))


def _accounts(n: int, rng: random.Random, out: list[Delta]) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at, kind, country = (
            _when(rng),
            rng.choice(["individual", "legal_entity"]),
            rng.choice(COUNTRIES),
        )
        dims = {"account_type": kind, "country": country}
        out.append(delta("accounts.registered", at, **dims))
        activated = at + timedelta(seconds=rng.randrange(30, 7200)) if rng.random() < 0.8 else None
        if activated:
            out.append(delta("accounts.activated", activated, **dims))
        session = activated + timedelta(hours=1) if activated and rng.random() < 0.7 else None
        yield (uuid.uuid4(), kind, country, at, activated, session, None, None, None)


def _payments(n: int, rng: random.Random, out: list[Delta]) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at, purpose, (provider, currency) = _when(rng), rng.choice(PURPOSES), rng.choice(MONEY)
        amount, roll = rng.randrange(100, 100_000), rng.random()
        outcome = "succeeded" if roll < 0.85 else "failed" if roll < 0.95 else "refunded"
        money = {"provider": provider, "currency": currency}
        if outcome == "succeeded":
            out.append(delta(f"payments.{PAID[purpose]}.count", at, **money))
            out.append(delta(f"payments.{PAID[purpose]}.amount", at, amount, **money))
        elif outcome == "refunded":
            out.append(delta("payments.refunds.count", at, purpose=purpose, **money))
            out.append(delta("payments.refunds.amount", at, amount, purpose=purpose, **money))
        else:
            out.append(
                delta(
                    "payments.failed.count",
                    at,
                    purpose=purpose,
                    provider=provider,
                    reason="declined",
                )
            )
        reason = "declined" if outcome == "failed" else None
        yield (uuid.uuid4(), outcome, uuid.uuid4(), purpose, provider, currency, amount, reason, at)


def _sessions(n: int, rng: random.Random, out: list[Delta]) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at = _when(rng)
        out.append(delta("mining.sessions_started", at))
        done = at + timedelta(hours=24) if rng.random() < 0.95 else None
        points = rng.randrange(1, 50) * 1_000_000 if done else None
        if done and points:
            out.append(delta("mining.sessions_completed", done))
            out.append(delta("mining.points_mined", done, points))
        yield (uuid.uuid4(), uuid.UUID(int=rng.randrange(1, 60_000)), at, done, points)


def _accelerations(n: int, rng: random.Random, out: list[Delta]) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at, seconds = _when(rng), rng.randrange(60, 3600)
        out += [delta("mining.accelerations", at), delta("mining.seconds_skipped", at, seconds)]
        yield (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), seconds, at)


def _movements(n: int, rng: random.Random, out: list[Delta]) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at, kind, points = _when(rng), rng.choice(list(KINDS)), rng.randrange(1, 100) * 100_000
        out.append(delta(f"points.{KINDS[kind]}", at, points))
        yield (uuid.uuid4().hex, kind, uuid.uuid4(), points, at)


def _purchases(
    n: int, items: list[uuid.UUID], rng: random.Random, out: list[Delta]
) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at, item, price = _when(rng), rng.choice(items), rng.randrange(1, 50) * 1_000_000
        out.append(delta("nft.purchases_requested", at, catalog_item_id=item))
        minted = failed = None
        if rng.random() < 0.9:
            minted = at + timedelta(milliseconds=rng.randrange(500, 20_000))
            out.append(delta("nft.purchases_completed", minted, catalog_item_id=item))
            out.append(delta("nft.points_spent", minted, price, catalog_item_id=item))
        else:
            failed = at + timedelta(seconds=5)
            out.append(delta("nft.purchases_failed", failed, reason="sold_out"))
        yield (
            uuid.uuid4(),
            uuid.uuid4(),
            item,
            price,
            at,
            minted,
            failed,
            "sold_out" if failed else None,
        )


def _transfers(n: int, rng: random.Random, out: list[Delta]) -> Iterator[tuple[Any, ...]]:
    for _ in range(n):
        at = _when(rng)
        out.append(delta("nft.transferred", at))
        yield (uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), at)


async def load(dsn: str, facts: int, seed: int = 7) -> dict[str, int]:
    """COPY `facts` fact rows and their rollups; returns rows per table."""
    rng, deltas = random.Random(seed), []
    counts = {t: int(facts * s) for t, s in SHARES.items()}
    counts["catalog_items"] = 100
    counts["accounts"] = facts - sum(counts.values())
    items = [uuid.uuid4() for _ in range(counts["catalog_items"])]
    tables: dict[str, Callable[[], Iterator[tuple[Any, ...]]]] = {
        "accounts": lambda: _accounts(counts["accounts"], rng, deltas),
        "payments": lambda: _payments(counts["payments"], rng, deltas),
        "sessions": lambda: _sessions(counts["sessions"], rng, deltas),
        "accelerations": lambda: _accelerations(counts["accelerations"], rng, deltas),
        "point_movements": lambda: _movements(counts["point_movements"], rng, deltas),
        "purchases": lambda: _purchases(counts["purchases"], items, rng, deltas),
        "catalog_items": lambda: (
            (i, f"Item {n}", "active", 1_000, 10_000_000, NOW - YEAR, NOW - YEAR)
            for n, i in enumerate(items)
        ),
        "transfers": lambda: _transfers(counts["transfers"], rng, deltas),
    }
    conn = await asyncpg.connect(dsn)
    try:
        for table, rows in tables.items():
            await conn.copy_records_to_table(table, records=list(rows()), schema_name=SCHEMA)
        cells = merge(deltas)
        await conn.copy_records_to_table(
            "rollups",
            records=[(c.metric, c.dimension, c.bucket_start, c.value) for c in cells],
            schema_name=SCHEMA,
        )
        await conn.execute(  # what the projection keeps beside the cells
            "INSERT INTO analytics.rollup_totals SELECT metric, dimension, sum(value)"
            " FROM analytics.rollups GROUP BY metric, dimension"
        )
        await conn.execute(
            "INSERT INTO analytics.topic_progress VALUES ('auth.user.v1', $1, $2)", facts, NOW
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return {**counts, "rollups": len(cells), "deltas": len(deltas)}


async def timed(runs: int, call: Callable[[], Awaitable[object]]) -> dict[str, float]:
    for _ in range(3):
        await call()  # warm the pool, the plan cache and shared buffers
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return {"p50_ms": round(statistics.median(samples), 1), "p99_ms": round(p99, 1)}


THREE = ("accounts.registered", "payments.deposits.amount", "mining.points_mined")


def _sql(stmt: Any) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def hot_queries(year: list[datetime]) -> dict[str, tuple[str, dict[str, Any]]]:
    spans = windows(NOW)
    last_30d = {"start": spans[2].start, "end": spans[2].end}
    return {
        "summary: totals": ("SELECT metric, dimension, value FROM rollup_totals", {}),
        "summary: windows": (_sql(window_sums_statement(spans)), {}),
        "summary: facts": (str(FACTS), last_30d),
        "year of days (3 metrics)": (_sql(series_statement(THREE, year)), {}),
    }


async def explain(
    factory: UnitOfWorkFactory, queries: dict[str, tuple[str, dict[str, Any]]]
) -> dict[str, str]:
    plans = {}
    async with factory() as uow:
        await uow.session.execute(text("SET LOCAL work_mem = '64MB'"))  # as the repository
        for name, (sql, params) in queries.items():
            explained = text("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            rows = (await uow.session.execute(explained, params)).all()
            plans[name] = "\n".join(r[0] for r in rows)
    return plans


async def measure(
    factory: UnitOfWorkFactory, runs: int, year: list[datetime]
) -> dict[str, dict[str, float]]:
    three = [m for m in METRICS if m.name in THREE]

    def use(case: Callable[[Any], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
        async def run() -> object:
            async with factory() as uow:
                return await case(uow)

        return run

    return {
        "summary": await timed(runs, use(lambda uow: handlers.summary(uow, NOW))),
        "year_of_days_3_metrics": await timed(
            runs, use(lambda uow: handlers.timeseries(uow, three, year, NOW))
        ),
        "year_of_days_all_metrics": await timed(
            runs, use(lambda uow: handlers.timeseries(uow, list(METRICS), year, NOW))
        ),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    name = f"analytics_bench_{uuid.uuid4().hex[:8]}"
    url = await create_database(server, name)
    try:
        await migrate(SERVICE_DIR, url)
        started = time.perf_counter()
        loaded = await load(to_asyncpg_url(url), args.facts)
        load_s = time.perf_counter() - started
        engine = create_engine(url, schema=SCHEMA, application_name="analytics.bench", pool_size=2)
        factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
        year = bucket_bounds(NOW - YEAR, NOW, Interval.DAY, ZoneInfo("Europe/Moscow"), 1_000)
        try:
            figures = await measure(factory, args.runs, year)
            plans = await explain(factory, hot_queries(year))
        finally:
            await engine.dispose()
    finally:
        await drop_database(server, name)
    return {
        "loaded": loaded,
        "load_s": round(load_s, 1),
        "figures": figures,
        "plans": plans,
        "runs": args.runs,
        "buckets": len(year) - 1,
        "cpus": os.cpu_count(),
    }


TARGETS = {
    "summary": 50.0,
    "year_of_days_3_metrics": 200.0,
    "year_of_days_all_metrics": 200.0,
}


def _table(result: dict[str, Any]) -> str:
    loaded = result["loaded"]
    facts = sum(v for k, v in loaded.items() if k not in ("rollups", "deltas"))
    lines = [
        f"loaded {facts:,} facts and {loaded['rollups']:,} rollup cells "
        f"({loaded['deltas']:,} deltas) "
        f"in {result['load_s']} s; {result['runs']} runs each; cpus={result['cpus']}",
        f"{'query':<34} {'p50':>9} {'p99':>9} {'target':>9}",
    ]
    for name, f in result["figures"].items():
        ok = "ok" if f["p99_ms"] <= TARGETS[name] else "OVER"
        lines.append(
            f"{name:<34} {f['p50_ms']:>7} ms {f['p99_ms']:>7} ms {TARGETS[name]:>6} ms  {ok}"
        )
    for name, plan in result["plans"].items():
        short = [line if len(line) <= 200 else line[:197] + "..." for line in plan.splitlines()]
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS) {name}:", *short]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--facts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args()
    result = asyncio.run(main(ns))
    print(json.dumps(result) if ns.json else _table(result))
