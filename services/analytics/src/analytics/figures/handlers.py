"""The reads' use cases: load through the repository, shape the figures. Nothing here writes or
commits; every answer carries `as_of` (the newest event applied) read in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.pagination import decode_cursor, encode_cursor

from analytics.domain import METRICS, Metric, parse_dimension
from analytics.figures.domain import (
    FactFigures,
    ItemFigures,
    RollupSum,
    Window,
    is_money,
    windows,
)
from analytics.figures.repository import FiguresRepository

#: (all time, last 24 h, last 7 d, last 30 d)
Values = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Cell:
    dimensions: dict[str, str]
    values: Values


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One metric: its overall values (None for money: never summed across currencies), per
    currency (money only) and per dimension cell."""

    metric: Metric
    values: Values | None
    by_currency: list[Cell] | None
    breakdown: list[Cell]


@dataclass(frozen=True, slots=True)
class Summary:
    as_of: datetime | None
    generated_at: datetime
    windows: tuple[Window, ...]
    metrics: list[MetricSummary]
    facts: FactFigures
    points_held_micro: int


@dataclass(frozen=True, slots=True)
class Series:
    metric: Metric
    currency: str | None
    values: list[int]


@dataclass(frozen=True, slots=True)
class Timeseries:
    as_of: datetime | None
    generated_at: datetime
    bounds: list[datetime]
    series: list[Series]


@dataclass(frozen=True, slots=True)
class Funnel:
    as_of: datetime | None
    generated_at: datetime
    counts: list[int]


@dataclass(frozen=True, slots=True)
class ItemsPage:
    as_of: datetime | None
    generated_at: datetime
    items: list[ItemFigures]
    next_cursor: str | None


def _add(a: Values, b: Values) -> Values:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


_ZERO: Values = (0, 0, 0, 0)


def _metric_summary(metric: Metric, sums: list[RollupSum]) -> MetricSummary:
    breakdown: list[Cell] = []
    overall = _ZERO
    currencies: dict[str, Values] = {}
    for s in sorted(sums, key=lambda s: s.dimension):
        values: Values = (s.total, s.windows[0], s.windows[1], s.windows[2])
        dims = parse_dimension(s.dimension)
        breakdown.append(Cell(dims, values))
        overall = _add(overall, values)
        if is_money(metric):
            currency = dims.get("currency", "")
            currencies[currency] = _add(currencies.get(currency, _ZERO), values)
    if not is_money(metric):
        return MetricSummary(metric, overall, None, breakdown)
    by_currency = [Cell({"currency": c}, v) for c, v in sorted(currencies.items())]
    return MetricSummary(metric, None, by_currency, breakdown)


async def summary(uow: UnitOfWork, now: datetime) -> Summary:
    """Every metric all-time and in the last 24 h / 7 d / 30 d, and the figures over facts (the
    duration percentiles over the last 30 days)."""
    repo = FiguresRepository(uow.session)
    as_of = await repo.as_of()
    spans = windows(now)
    by_metric: dict[str, list[RollupSum]] = {}
    for s in await repo.rollup_sums(spans):
        by_metric.setdefault(s.metric, []).append(s)
    metrics = [_metric_summary(m, by_metric.get(m.name, [])) for m in METRICS]
    totals = {m.metric.name: (m.values or _ZERO)[0] for m in metrics}
    held = totals["points.reserved"] - totals["points.debited"] - totals["points.released"]
    last_30d = next(w for w in spans if w.name == "last_30d")
    return Summary(as_of, now, spans, metrics, await repo.facts(last_30d), held)


async def timeseries(
    uow: UnitOfWork, metrics: Sequence[Metric], bounds: list[datetime], now: datetime
) -> Timeseries:
    """One series per metric (per currency for money), a value for every bucket (0 when none)."""
    repo = FiguresRepository(uow.session)
    as_of = await repo.as_of()
    n = len(bounds) - 1
    cells = await repo.series([m.name for m in metrics], bounds)
    sums: dict[tuple[str, str | None], list[int]] = {}
    for c in cells:
        sums.setdefault((c.metric, c.currency), [0] * n)[c.index] += c.value
    series: list[Series] = []
    for m in metrics:
        keys = sorted((k for k in sums if k[0] == m.name), key=lambda k: k[1] or "")
        if not keys:  # nothing in the range: one zero series (a money one names no currency)
            series.append(Series(m, None, [0] * n))
        series.extend(Series(m, currency, sums[(m.name, currency)]) for _, currency in keys)
    return Timeseries(as_of, now, bounds, series)


async def funnel(uow: UnitOfWork, start: datetime, end: datetime, now: datetime) -> Funnel:
    """The cohort registered in `[start, end)` and how many of it reached each step."""
    repo = FiguresRepository(uow.session)
    as_of = await repo.as_of()
    return Funnel(as_of, now, await repo.funnel(start, end))


async def items_page(uow: UnitOfWork, cursor: str | None, limit: int, now: datetime) -> ItemsPage:
    """Per catalog item: sold, sell-through, points spent, requested, failed; keyset-paged
    (newest first by when the item was first seen, stable under edits). A bad cursor is
    `InvalidCursor` (422)."""
    after = decode_cursor(cursor, UUID) if cursor is not None else None
    repo = FiguresRepository(uow.session)
    as_of = await repo.as_of()
    rows = await repo.items(after, limit + 1)
    page, more = rows[:limit], len(rows) > limit
    next_cursor = encode_cursor(page[-1].at, page[-1].item_id) if more else None
    return ItemsPage(as_of, now, page, next_cursor)
