"""The only SQL of the reads (SQLAlchemy Core and `text()` on the unit of work's session).

Summed figures come from `rollups` (15-minute UTC buckets: windows, series) and `rollup_totals`
(their all-time sums, kept by the projection); the rest are queries over facts.
Nothing here writes or commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, case, cast, func, null, select, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.domain import METRIC_BY_NAME, METRICS
from analytics.figures.domain import (
    FactFigures,
    ItemFigures,
    Percentiles,
    RollupSum,
    SeriesCell,
    Window,
    is_money,
    millis,
)
from analytics.models import rollup_totals, rollups, topic_progress

_R = rollups.c
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A money metric's dimension starts with its currency (keys are sorted and `currency` sorts
#: first among every money metric's keys): `currency=USD;provider=stripe`.
_CURRENCY = "currency="
if any(min(m.dimensions) != "currency" for m in METRICS if is_money(m)):  # pragma: no cover
    raise RuntimeError("every money metric's first dimension key must be `currency`")
#: Admin reads aggregate up to a year of cells: room to hash instead of spilling a sort.
_WORK_MEM = "SET LOCAL work_mem = '64MB'"

#: The figures over facts, none a scan of a whole fact table. All-time counts are read from
#: `rollup_totals`, exact because a metric's total is the sum of its deltas over the current
#: fact rows (`projection.facts`; tests/integration/test_rollup_totals.py): registered accounts
#: = `accounts.registered`; accounts both registered and activated = `accounts.activated` minus
#: those activated whose registration has not arrived (the `registered_at IS NULL` range of
#: `ix_accounts_registered_at`: a handful); NFTs sold of catalog items = `nft.purchases_completed`
#: of the catalog's `catalog_item_id` cells. Time to activation and mint latency: the last 30
#: days (`:start`..`:end`: accounts activated / purchases minted in that window; exact
#: percentile_disc sorts of a month, index-only, not of all history). Then the running sessions'
#: partial index and the catalog.
FACTS = text(
    """
    WITH total AS (
        SELECT coalesce(sum(value) FILTER (WHERE metric = 'accounts.registered'), 0)
                   AS registered,
               coalesce(sum(value) FILTER (WHERE metric = 'accounts.activated'), 0)
                   AS activated
        FROM rollup_totals WHERE metric IN ('accounts.registered', 'accounts.activated')
    ),
    tta AS (
        SELECT count(*) AS n,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY activated_at - registered_at) AS p50,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY activated_at - registered_at) AS p90
        FROM accounts
        WHERE activated_at >= :start AND activated_at < :end AND registered_at IS NOT NULL
    ),
    mint AS (
        SELECT count(*) AS n,
               percentile_disc(0.5) WITHIN GROUP (ORDER BY minted_at - requested_at) AS p50,
               percentile_disc(0.9) WITHIN GROUP (ORDER BY minted_at - requested_at) AS p90
        FROM purchases
        WHERE minted_at >= :start AND minted_at < :end AND requested_at IS NOT NULL
    )
    SELECT total.registered,
           total.activated - (SELECT count(*) FROM accounts
                               WHERE registered_at IS NULL AND activated_at IS NOT NULL)
               AS activated,
           tta.n AS tta_n, tta.p50 AS tta_p50, tta.p90 AS tta_p90,
           (SELECT count(DISTINCT user_id) FROM sessions WHERE completed_at IS NULL) AS mining_now,
           mint.n AS mint_n, mint.p50 AS mint_p50, mint.p90 AS mint_p90,
           (SELECT coalesce(sum(t.value), 0)
              FROM rollup_totals t JOIN catalog_items c
                ON t.dimension = 'catalog_item_id=' || c.item_id::text
             WHERE t.metric = 'nft.purchases_completed') AS nft_sold,
           (SELECT coalesce(sum(supply_total), 0) FROM catalog_items) AS nft_supply
    FROM total, tta, mint
    """
)

_ITEMS = text(
    """
    WITH p AS (
        SELECT catalog_item_id AS item_id,
               count(*) AS requested,
               count(*) FILTER (WHERE minted_at IS NOT NULL) AS sold,
               count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed,
               coalesce(sum(price_points_micro) FILTER (WHERE minted_at IS NOT NULL), 0)
                   AS points_spent,
               min(requested_at) AS first_requested_at
        FROM purchases WHERE catalog_item_id IS NOT NULL
        GROUP BY catalog_item_id
    ),
    items AS (
        SELECT coalesce(c.item_id, p.item_id) AS item_id, c.name, c.status, c.supply_total,
               c.price_points_micro,
               coalesce(p.requested, 0) AS requested, coalesce(p.sold, 0) AS sold,
               coalesce(p.failed, 0) AS failed, coalesce(p.points_spent, 0) AS points_spent,
               coalesce(c.first_seen_at, p.first_requested_at, :epoch) AS at
        FROM catalog_items c FULL JOIN p ON p.item_id = c.item_id
    )
    SELECT * FROM items
    WHERE CAST(:after_at AS timestamptz) IS NULL
       OR (at, item_id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))
    ORDER BY at DESC, item_id DESC
    LIMIT :limit
    """
)

_FUNNEL = text(
    """
    SELECT count(*) AS registered,
           count(*) FILTER (WHERE activated_at IS NOT NULL) AS activated,
           count(*) FILTER (WHERE activated_at IS NOT NULL AND first_session_at IS NOT NULL)
               AS first_session,
           count(*) FILTER (WHERE activated_at IS NOT NULL AND first_session_at IS NOT NULL
                              AND first_purchase_at IS NOT NULL) AS first_purchase,
           count(*) FILTER (WHERE activated_at IS NOT NULL AND first_session_at IS NOT NULL
                              AND first_purchase_at IS NOT NULL
                              AND wallet_bound_at IS NOT NULL) AS wallet_bound,
           count(*) FILTER (WHERE activated_at IS NOT NULL AND first_session_at IS NOT NULL
                              AND first_purchase_at IS NOT NULL AND wallet_bound_at IS NOT NULL
                              AND first_transfer_at IS NOT NULL) AS transferred
    FROM accounts
    WHERE registered_at >= :start AND registered_at < :end
    """
)


def window_sums_statement(windows: Sequence[Window]) -> Select[Any]:
    """metric, dimension, one sum per window (bucket_start in [start, end)): the widest
    window's range of every metric through `ix_rollups_metric_bucket_start` (index-only)."""
    first = min(w.start for w in windows)
    last = max(w.end for w in windows)
    columns = [
        func.sum(_R.value).filter(_R.bucket_start >= w.start, _R.bucket_start < w.end).label(w.name)
        for w in windows
    ]
    return (
        select(_R.metric, _R.dimension, *columns)
        .where(
            _R.metric.in_([m.name for m in METRICS]),
            _R.bucket_start >= first,
            _R.bucket_start < last,
        )
        .group_by(_R.metric, _R.dimension)
    )


def series_statement(metrics: Sequence[str], bounds: Sequence[datetime]) -> Select[Any]:
    """Sums per metric, series key (the currency of a money metric, else NULL) and bucket:
    `width_bucket` finds the bucket (1-based) of each 15-minute rollup among the boundaries."""
    array = ARRAY(TIMESTAMP(timezone=True))
    bounds_param = cast(bindparam("bounds", list(bounds), type_=array), array)
    index = func.width_bucket(_R.bucket_start, bounds_param).label("i")
    money = [m for m in metrics if is_money(METRIC_BY_NAME[m])]
    currency = case(
        (
            _R.metric.in_(money),
            func.substr(func.split_part(_R.dimension, ";", 1), len(_CURRENCY) + 1),
        ),
        else_=null(),
    ).label("currency")
    return (
        select(_R.metric, currency, index, func.sum(_R.value).label("value"))
        .where(
            _R.metric.in_(list(metrics)),
            _R.bucket_start >= bounds[0],
            _R.bucket_start < bounds[-1],
        )
        .group_by(_R.metric, currency, index)
    )


def _percentiles(n: int, p50: Any, p90: Any) -> Percentiles:
    return Percentiles(count=int(n), p50_ms=millis(p50), p90_ms=millis(p90))


class FiguresRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def as_of(self) -> datetime | None:
        """The newest event applied on any topic (None before the first)."""
        stmt = select(func.max(topic_progress.c.newest_event_at))
        newest: datetime | None = (await self.session.execute(stmt)).scalar_one()
        return newest

    async def rollup_sums(self, windows: Sequence[Window]) -> list[RollupSum]:
        """Every metric × dimension: the all-time sum (`rollup_totals`) and per-window sums
        (`rollups`)."""
        await self.session.execute(text(_WORK_MEM))
        totals = {
            (r.metric, r.dimension): int(r.value)
            for r in await self.session.execute(select(rollup_totals))
        }
        spans = {
            (r.metric, r.dimension): tuple(int(r[2 + i] or 0) for i in range(len(windows)))
            for r in await self.session.execute(window_sums_statement(windows))
        }
        zero = (0,) * len(windows)
        return [
            RollupSum(key[0], key[1], totals.get(key, 0), spans.get(key, zero))
            for key in sorted(totals.keys() | spans.keys())
        ]

    async def series(self, metrics: Sequence[str], bounds: Sequence[datetime]) -> list[SeriesCell]:
        """Sums per metric × currency (money) × bucket `[b[i], b[i+1])` (absent when 0)."""
        if len(bounds) < 2:
            return []
        await self.session.execute(text(_WORK_MEM))
        stmt = series_statement(metrics, bounds)
        rows = (await self.session.execute(stmt)).all()
        return [SeriesCell(r.metric, r.currency, int(r.i) - 1, int(r.value)) for r in rows]

    async def facts(self, last_30d: Window) -> FactFigures:
        """The figures over facts; the percentiles of the durations ending in `last_30d`."""
        params = {"start": last_30d.start, "end": last_30d.end}
        r = (await self.session.execute(FACTS, params)).one()
        return FactFigures(
            registered=int(r.registered),
            activated=int(r.activated),
            time_to_activation=_percentiles(r.tta_n, r.tta_p50, r.tta_p90),
            users_mining_now=int(r.mining_now),
            mint_latency=_percentiles(r.mint_n, r.mint_p50, r.mint_p90),
            nft_sold=int(r.nft_sold),
            nft_supply_total=int(r.nft_supply),
        )

    async def funnel(self, start: datetime, end: datetime) -> list[int]:
        """The cohort registered in `[start, end)`: how many reached each step (and every step
        before it)."""
        r = (await self.session.execute(_FUNNEL, {"start": start, "end": end})).one()
        return [int(v) for v in r]

    async def items(self, after: tuple[datetime, UUID] | None, limit: int) -> list[ItemFigures]:
        """Catalog items (and items seen only in purchases), newest first by `(first_seen_at,
        item_id)` (for an item seen only in purchases: its first `requested_at`), keyset-paged:
        an edit between two page fetches moves no item, so none is skipped or repeated."""
        params = {
            "epoch": _EPOCH,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else None,
            "limit": limit,
        }
        rows = (await self.session.execute(_ITEMS, params)).all()
        return [
            ItemFigures(
                item_id=r.item_id,
                name=r.name,
                status=r.status,
                supply_total=None if r.supply_total is None else int(r.supply_total),
                price_points_micro=None
                if r.price_points_micro is None
                else int(r.price_points_micro),
                requested=int(r.requested),
                sold=int(r.sold),
                failed=int(r.failed),
                points_spent_micro=int(r.points_spent),
                at=r.at,
            )
            for r in rows
        ]
