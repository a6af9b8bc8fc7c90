"""Seeding for the figures tests: fact rows and rollup cells written straight into the tables of
`analytics.models` (rollup values built with `analytics.domain.delta`/`merge`), so the tests of
the reads know every figure exactly and do not depend on the projection."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from analytics import models
from analytics.domain import Delta, delta, merge
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine


def at(text: str) -> datetime:
    """`2026-03-01T21:00` (UTC unless an offset is given) -> an aware datetime."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def d(metric: str, when: str | datetime, value: int = 1, **dims: object) -> Delta:
    return delta(metric, at(when) if isinstance(when, str) else when, value, **dims)


async def seed_rollups(engine: AsyncEngine, deltas: Sequence[Delta]) -> None:
    """Add the deltas to their cells and to their all-time totals (summed like the projection's
    upserts: `rollup_totals` is the sum of the cells per metric × dimension)."""
    cells = merge(list(deltas))
    if not cells:
        return
    rows = [
        {
            "metric": c.metric,
            "dimension": c.dimension,
            "bucket_start": c.bucket_start,
            "value": c.value,
        }
        for c in cells
    ]
    sums: dict[tuple[str, str], int] = {}
    for c in cells:
        sums[(c.metric, c.dimension)] = sums.get((c.metric, c.dimension), 0) + c.value
    totals = [{"metric": m, "dimension": dim, "value": v} for (m, dim), v in sums.items()]
    async with engine.begin() as conn:
        for table, values, keys in (
            (models.rollups, rows, ["metric", "dimension", "bucket_start"]),
            (models.rollup_totals, totals, ["metric", "dimension"]),
        ):
            stmt = insert(table).values(values)
            stmt = stmt.on_conflict_do_update(
                index_elements=keys, set_={"value": table.c.value + stmt.excluded.value}
            )
            await conn.execute(stmt)


async def seed_rows(engine: AsyncEngine, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        async with engine.begin() as conn:
            await conn.execute(table.insert().values(list(rows)))


async def seed_progress(engine: AsyncEngine, newest: dict[str, str]) -> None:
    rows = [{"topic": t, "events_applied": 1, "newest_event_at": at(v)} for t, v in newest.items()]
    await seed_rows(engine, models.topic_progress, rows)


def account(
    registered: str | None,
    *,
    activated: str | None = None,
    session: str | None = None,
    purchase: str | None = None,
    wallet: str | None = None,
    transfer: str | None = None,
    account_type: str = "individual",
    country: str = "DE",
) -> dict[str, Any]:
    def t(v: str | None) -> datetime | None:
        return None if v is None else at(v)

    return {
        "user_id": uuid.uuid4(),
        "account_type": account_type,
        "country": country,
        "registered_at": t(registered),
        "activated_at": t(activated),
        "first_session_at": t(session),
        "first_purchase_at": t(purchase),
        "wallet_bound_at": t(wallet),
        "first_transfer_at": t(transfer),
    }


def catalog_item(name: str, supply: int, changed: str, status: str = "active") -> dict[str, Any]:
    return {
        "item_id": uuid.uuid4(),
        "name": name,
        "status": status,
        "supply_total": supply,
        "price_points_micro": 10_000_000,
        "changed_at": at(changed),
        "first_seen_at": at(changed),
    }


def purchase(
    item_id: uuid.UUID | None,
    requested: str | None,
    *,
    minted: str | None = None,
    failed: str | None = None,
    price: int = 10_000_000,
) -> dict[str, Any]:
    return {
        "purchase_id": uuid.uuid4(),
        "user_id": uuid.uuid4(),
        "catalog_item_id": item_id,
        "price_points_micro": price,
        "requested_at": None if requested is None else at(requested),
        "minted_at": None if minted is None else at(minted),
        "failed_at": None if failed is None else at(failed),
        "failure_reason": "sold_out" if failed else None,
    }
