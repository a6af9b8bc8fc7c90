"""CSV answers (`Accept: text/csv`): a header row, then one row per figure, bucket, step or item.

Every row starts with an `as_of` column (the newest event applied; empty before the first), so a
row copied out of the sheet still says how fresh it is. Numbers are integers in the unit named
on the row (minor units of `currency`, micro-points) or exact decimal strings (ratios); times
are ISO 8601 with their offset; dimensions are the canonical `key=value;...` string.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime

from analytics.domain import dimension
from analytics.figures.schemas import (
    CellOut,
    FunnelOut,
    ItemsPageOut,
    RatioOut,
    SummaryOut,
    TimeseriesOut,
    ValuesOut,
)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

SUMMARY_HEADER = (
    "as_of",
    "figure",
    "dimension",
    "unit",
    "total",
    "last_24h",
    "last_7d",
    "last_30d",
)
TIMESERIES_HEADER = ("as_of", "metric", "currency", "unit", "bucket_start", "bucket_end", "value")
FUNNEL_HEADER = (
    "as_of",
    "step",
    "count",
    "conversion_numerator",
    "conversion_denominator",
    "conversion",
    "overall",
)
ITEMS_HEADER = (
    "as_of",
    "item_id",
    "name",
    "status",
    "supply_total",
    "requested",
    "sold",
    "failed",
    "sell_through",
    "points_spent_micro",
)


def wants_csv(accept: str | None) -> bool:
    """True when the client prefers `text/csv` to JSON (highest q first, then order)."""
    if not accept:
        return False
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, media.lower()))
    for q, _, media in sorted(ranked):
        if q < 0 and media in ("text/csv", "application/json", "*/*", "application/*"):
            return media == "text/csv"
    return False


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _render(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_text(v) for v in row] for row in rows)
    return out.getvalue()


def _vals(v: ValuesOut) -> tuple[int, int, int, int]:
    return (v.total, v.last_24h, v.last_7d, v.last_30d)


def _summary_rows(s: SummaryOut) -> Iterable[tuple[object, ...]]:
    for m in s.metrics:
        cells: list[tuple[str, ValuesOut]] = []
        if m.values is not None:
            cells.append(("", m.values))
        cells += [(dimension(**c.dimensions), c.values) for c in _cells(m.by_currency)]
        cells += [(dimension(**c.dimensions), c.values) for c in m.breakdown]
        for dim, values in cells:
            yield (s.as_of, m.name, dim, m.unit, *_vals(values))
    f = s.figures
    singles: list[tuple[str, str, object]] = [
        ("accounts_registered", "count", f.accounts_registered),
        ("accounts_activated", "count", f.accounts_activated),
        *_ratio("activation_rate", f.activation_rate),
        ("time_to_activation.count", "count", f.time_to_activation.count),
        ("time_to_activation.p50", "ms", f.time_to_activation.p50_ms),
        ("time_to_activation.p90", "ms", f.time_to_activation.p90_ms),
        ("users_mining_now", "count", f.users_mining_now),
        ("points_held", "micro_points", f.points_held_micro),
        ("mint_latency.count", "count", f.mint_latency.count),
        ("mint_latency.p50", "ms", f.mint_latency.p50_ms),
        ("mint_latency.p90", "ms", f.mint_latency.p90_ms),
        ("nft_sold", "count", f.nft_sold),
        ("nft_supply_total", "count", f.nft_supply_total),
        *_ratio("nft_sell_through", f.nft_sell_through),
    ]
    for name, unit, value in singles:
        yield (s.as_of, name, "", unit, value, "", "", "")


def _cells(cells: list[CellOut] | None) -> list[CellOut]:
    return cells or []


def _ratio(name: str, r: RatioOut) -> list[tuple[str, str, object]]:
    return [
        (f"{name}.numerator", "count", r.numerator),
        (f"{name}.denominator", "count", r.denominator),
        (name, "ratio", r.value),
    ]


def summary_csv(s: SummaryOut) -> str:
    return _render(SUMMARY_HEADER, _summary_rows(s))


def timeseries_csv(t: TimeseriesOut) -> str:
    rows = (
        (t.as_of, s.metric, s.currency, s.unit, b.start, b.end, b.value)
        for s in t.series
        for b in s.buckets
    )
    return _render(TIMESERIES_HEADER, rows)


def funnel_csv(f: FunnelOut) -> str:
    rows = (
        (
            f.as_of,
            step.name,
            step.count,
            step.conversion.numerator if step.conversion else None,
            step.conversion.denominator if step.conversion else None,
            step.conversion.value if step.conversion else None,
            step.overall.value,
        )
        for step in f.steps
    )
    return _render(FUNNEL_HEADER, rows)


def items_csv(p: ItemsPageOut) -> str:
    rows = (
        (
            p.as_of,
            i.item_id,
            i.name,
            i.status,
            i.supply_total,
            i.requested,
            i.sold,
            i.failed,
            i.sell_through.value,
            i.points_spent_micro,
        )
        for i in p.items
    )
    return _render(ITEMS_HEADER, rows)
