"""Events of every consumed type, fed through the real consumers, and views of what landed.

- the builders of `_analytics_events` (`registered`, `paid`, `started`, `requested`, ...,
  `journey(...)`: one user's whole walk on every topic), re-exported; `JOURNEY_TOTALS`;
- `apply(factory, *events)`: the events (or envelopes, to redeliver one exactly) as one poll
  through `consumers.process_batch`, the worker's batch path; `apply_each` one by one;
- `cells`/`totals`: the rollups by cell and by metric; `assert_totals_match_cells`:
  `rollup_totals` is exactly the sum of the cells per metric × dimension; `dump`: every
  projection table's rows, to compare two projections exactly (the inbox is left out: it holds
  claim times).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from _analytics_events import (  # noqa: F401  (re-exported)
    T0,
    accelerated,
    acceleration_rejected,
    activated,
    at,
    catalog_changed,
    completed,
    debited,
    journey,
    minted,
    money_credited,
    paid,
    payment_failed,
    points_credited,
    purchase_failed,
    refunded,
    registered,
    released,
    requested,
    reservation_rejected,
    reserved,
    started,
    transferred,
    wallet_bound,
)
from analytics import models
from analytics.consumers import consumers
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.events import (
    Envelope,
    Event,
)
from scifikpi_common.messaging import Delivery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

#: The all-time total of every metric after one `journey()`.
JOURNEY_TOTALS = {
    "accounts.registered": 1,
    "accounts.activated": 1,
    "payments.deposits.count": 1,
    "payments.deposits.amount": 1500,
    "payments.accelerations.count": 1,
    "payments.accelerations.amount": 300,
    "mining.sessions_started": 1,
    "mining.sessions_completed": 1,
    "mining.accelerations": 1,
    "mining.seconds_skipped": 600,
    "mining.points_mined": 2_000_000,
    "points.credited": 2_000_000,
    "points.reserved": 2_000_000,
    "points.debited": 1_000_000,
    "points.released": 1_000_000,
    "nft.purchases_requested": 2,
    "nft.purchases_completed": 1,
    "nft.purchases_failed": 1,
    "nft.points_spent": 1_000_000,
    "nft.transferred": 1,
    "nft.wallets_bound": 1,
}


# --- delivery ---


def wrap(event: Event, occurred_at: datetime | None = None) -> Envelope[dict[str, Any]]:
    envelope = Envelope.wrap(event, producer="test")
    return envelope.model_copy(update={"occurred_at": occurred_at}) if occurred_at else envelope


def delivery(item: Event | Envelope[Any], topic: str | None = None) -> Delivery:
    envelope = item if isinstance(item, Envelope) else wrap(item)
    if topic is None:
        assert isinstance(item, Event), "an envelope needs its topic"
        topic = item.TOPIC
    return Delivery(topic=topic, body=envelope.to_bytes(), key=envelope.key.encode())


def deliveries(*items: Event | tuple[str, Envelope[Any]]) -> list[Delivery]:
    """Events, or `(topic, envelope)` pairs (a redelivery, an unknown type...)."""
    return [
        delivery(i[1], i[0]) if isinstance(i, tuple) else delivery(i)  # type: ignore[arg-type]
        for i in items
    ]


async def apply(
    factory: UnitOfWorkFactory, *items: Event | tuple[str, Envelope[Any]]
) -> list[list[str]]:
    """The items as one poll through the worker's batch path; each delivery's outcomes."""
    return [list(o) for o in await consumers.process_batch(deliveries(*items), factory, None)]


async def apply_each(
    factory: UnitOfWorkFactory, *items: Event | tuple[str, Envelope[Any]]
) -> list[list[str]]:
    """The items one poll each (one transaction per event)."""
    out = []
    for d in deliveries(*items):
        out += [list(o) for o in await consumers.process_batch([d], factory, None)]
    return out


# --- views ---

Cell = tuple[str, str, datetime]


async def cells(engine: AsyncEngine) -> dict[Cell, int]:
    r = models.rollups
    async with engine.connect() as conn:
        rows = await conn.execute(select(r.c.metric, r.c.dimension, r.c.bucket_start, r.c.value))
        return {(m, d, b): v for m, d, b, v in rows}


async def totals(engine: AsyncEngine) -> dict[str, int]:
    """metric -> its all-time sum over every dimension."""
    out: dict[str, int] = {}
    for (metric, _, _), value in (await cells(engine)).items():
        out[metric] = out.get(metric, 0) + value
    return out


async def by_dimension(engine: AsyncEngine, metric: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for (m, dim, _), value in (await cells(engine)).items():
        if m == metric:
            out[dim] = out.get(dim, 0) + value
    return out


async def stored_totals(engine: AsyncEngine) -> dict[tuple[str, str], int]:
    """(metric, dimension) -> its row of `rollup_totals`."""
    t = models.rollup_totals
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.c.metric, t.c.dimension, t.c.value))
        return {(m, d): v for m, d, v in rows}


async def assert_totals_match_cells(engine: AsyncEngine) -> None:
    """`rollup_totals` holds a row per (metric, dimension) that has cells, equal to their sum
    (and none other: a total that ended at 0 is deleted, as its cells are)."""
    summed: dict[tuple[str, str], int] = {}
    for (metric, dim, _), value in (await cells(engine)).items():
        summed[(metric, dim)] = summed.get((metric, dim), 0) + value
    assert await stored_totals(engine) == summed


DUMPED = (
    models.accounts,
    models.payments,
    models.sessions,
    models.accelerations,
    models.point_movements,
    models.purchases,
    models.catalog_items,
    models.transfers,
    models.rollups,
    models.rollup_totals,
    models.topic_progress,
)


async def dump(engine: AsyncEngine, tables: Sequence[Any] = DUMPED) -> dict[str, list[tuple]]:
    """Every row of every projection table, sorted: two projections are the same iff equal."""
    out: dict[str, list[tuple]] = {}
    async with engine.connect() as conn:
        for table in tables:
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def rows(engine: AsyncEngine, table: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]
