"""Response bodies of the admin analytics API. Integers for counts, money (minor units of the
`currency`) and micro-points, with points also as decimal strings ("12.500000"); ratios as exact
`numerator`/`denominator` plus a 4-place decimal string; times ISO 8601 with their offset."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from scifikpi_common.points import format_points

from analytics.domain import Unit
from analytics.figures import handlers
from analytics.figures.domain import (
    FunnelStep,
    Interval,
    Percentiles,
    Ratio,
    funnel_ratios,
    is_points,
)

Points = Annotated[str, Field(examples=["12.500000"], pattern=r"^-?\d+\.\d{6}$")]
AsOf = Annotated[
    datetime | None,
    Field(
        description="The time of the newest event applied (null before the first): every "
        "figure is as of then.",
        examples=["2026-12-07T09:30:12.345000Z"],
    ),
]
Generated = Annotated[datetime, Field(description="When this answer was computed.")]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=False)


class RatioOut(_Out):
    numerator: int = Field(examples=[2])
    denominator: int = Field(examples=[3])
    value: str | None = Field(
        examples=["0.6667"],
        description="numerator / denominator rounded half-even to 4 places; null when the "
        "denominator is 0.",
    )

    @classmethod
    def of(cls, r: Ratio) -> RatioOut:
        return cls(numerator=r.numerator, denominator=r.denominator, value=r.value)


class PercentilesOut(_Out):
    count: int = Field(examples=[42], description="How many durations the percentiles are of.")
    p50_ms: int | None = Field(examples=[61_000], description="Median, whole milliseconds.")
    p90_ms: int | None = Field(examples=[3_600_000], description="90th percentile, ms.")

    @classmethod
    def of(cls, p: Percentiles) -> PercentilesOut:
        return cls(count=p.count, p50_ms=p.p50_ms, p90_ms=p.p90_ms)


class ValuesOut(_Out):
    """A figure all-time and in the last 24 h / 7 d / 30 d (in the metric's unit)."""

    total: int = Field(examples=[1250])
    last_24h: int = Field(examples=[12])
    last_7d: int = Field(examples=[80])
    last_30d: int = Field(examples=[310])


class PointsValuesOut(_Out):
    """The same micro-point values as decimal points."""

    total: Points
    last_24h: Points
    last_7d: Points
    last_30d: Points


def _values(v: handlers.Values) -> ValuesOut:
    return ValuesOut(total=v[0], last_24h=v[1], last_7d=v[2], last_30d=v[3])


def _points(v: handlers.Values | None, unit: Unit) -> PointsValuesOut | None:
    if v is None or unit is not Unit.MICRO_POINTS:
        return None
    t, d1, d7, d30 = (format_points(x) for x in v)
    return PointsValuesOut(total=t, last_24h=d1, last_7d=d7, last_30d=d30)


class CellOut(_Out):
    dimensions: dict[str, str] = Field(examples=[{"currency": "USD", "provider": "stripe"}])
    values: ValuesOut
    points: PointsValuesOut | None = None

    @classmethod
    def of(cls, c: handlers.Cell, unit: Unit) -> CellOut:
        return cls(
            dimensions=c.dimensions, values=_values(c.values), points=_points(c.values, unit)
        )


class MetricSummaryOut(_Out):
    name: str = Field(examples=["payments.deposits.amount"])
    unit: Unit
    description: str
    values: ValuesOut | None = Field(
        description="All dimensions summed; null for money (never summed across currencies: "
        "see `by_currency`)."
    )
    points: PointsValuesOut | None = Field(default=None, description="micro_points metrics.")
    by_currency: list[CellOut] | None = Field(
        default=None, description="Money metrics: per currency, providers summed."
    )
    breakdown: list[CellOut] = Field(description="Per dimension cell (provider, currency...).")

    @classmethod
    def of(cls, m: handlers.MetricSummary) -> MetricSummaryOut:
        unit = m.metric.unit
        return cls(
            name=m.metric.name,
            unit=unit,
            description=m.metric.description,
            values=None if m.values is None else _values(m.values),
            points=_points(m.values, unit),
            by_currency=None
            if m.by_currency is None
            else [CellOut.of(c, unit) for c in m.by_currency],
            breakdown=[CellOut.of(c, unit) for c in m.breakdown],
        )


class WindowOut(_Out):
    name: str = Field(examples=["last_24h"])
    start: datetime
    end: datetime


class FactFiguresOut(_Out):
    """Figures that are queries over facts (all time, now; the duration percentiles: the last
    30 days)."""

    accounts_registered: int = Field(examples=[4])
    accounts_activated: int = Field(examples=[3])
    activation_rate: RatioOut
    time_to_activation: PercentilesOut = Field(
        description="UserRegistered -> UserActivated, over the accounts activated in the last "
        "30 days (the `last_30d` window), exact."
    )
    users_mining_now: int = Field(examples=[2], description="Users with a running session.")
    points_held_micro: int = Field(examples=[5_000_000], description="reserved-debited-released")
    points_held: Points
    mint_latency: PercentilesOut = Field(
        description="NftPurchaseRequested -> NftMinted, over the purchases minted in the last "
        "30 days (the `last_30d` window), exact."
    )
    nft_sold: int = Field(examples=[7])
    nft_supply_total: int = Field(examples=[300])
    nft_sell_through: RatioOut = Field(description="NFTs sold / the catalog's total supply.")


class SummaryOut(_Out):
    as_of: AsOf
    generated_at: Generated
    windows: list[WindowOut] = Field(
        description="The windows of `last_*`: whole 15-minute UTC buckets ending with the "
        "current one (so `last_24h` is the 96 buckets up to the end of this quarter hour)."
    )
    metrics: list[MetricSummaryOut]
    figures: FactFiguresOut

    @classmethod
    def of(cls, s: handlers.Summary) -> SummaryOut:
        f = s.facts
        return cls(
            as_of=s.as_of,
            generated_at=s.generated_at,
            windows=[WindowOut(name=w.name, start=w.start, end=w.end) for w in s.windows],
            metrics=[MetricSummaryOut.of(m) for m in s.metrics],
            figures=FactFiguresOut(
                accounts_registered=f.registered,
                accounts_activated=f.activated,
                activation_rate=RatioOut.of(Ratio(f.activated, f.registered)),
                time_to_activation=PercentilesOut.of(f.time_to_activation),
                users_mining_now=f.users_mining_now,
                points_held_micro=s.points_held_micro,
                points_held=format_points(s.points_held_micro),
                mint_latency=PercentilesOut.of(f.mint_latency),
                nft_sold=f.nft_sold,
                nft_supply_total=f.nft_supply_total,
                nft_sell_through=RatioOut.of(Ratio(f.nft_sold, f.nft_supply_total)),
            ),
        )


class BucketOut(_Out):
    start: datetime = Field(examples=["2026-03-01T00:00:00+03:00"])
    end: datetime = Field(examples=["2026-03-02T00:00:00+03:00"])
    value: int = Field(examples=[5])
    points: Points | None = None


class SeriesOut(_Out):
    metric: str = Field(examples=["accounts.registered"])
    unit: Unit
    currency: str | None = Field(
        description="Money metrics: one series per currency (null, all zeros, when the range "
        "holds none); null otherwise.",
        examples=[None],
    )
    total: int = Field(examples=[12])
    buckets: list[BucketOut]


class TimeseriesOut(_Out):
    as_of: AsOf
    generated_at: Generated
    from_: datetime = Field(
        alias="from", description="`from` floored to its interval, in the timezone."
    )
    to: datetime = Field(description="`to` rounded up to a bucket boundary, in the timezone.")
    interval: Interval
    timezone: str = Field(examples=["Europe/Moscow"])
    series: list[SeriesOut]

    model_config = ConfigDict(populate_by_name=True)

    @classmethod
    def of(cls, t: handlers.Timeseries, interval: Interval, zone: ZoneInfo) -> TimeseriesOut:
        local = [b.astimezone(zone) for b in t.bounds]
        series = []
        for s in t.series:
            points = is_points(s.metric)
            buckets = [
                BucketOut(
                    start=local[i],
                    end=local[i + 1],
                    value=v,
                    points=format_points(v) if points else None,
                )
                for i, v in enumerate(s.values)
            ]
            series.append(
                SeriesOut(
                    metric=s.metric.name,
                    unit=s.metric.unit,
                    currency=s.currency,
                    total=sum(s.values),
                    buckets=buckets,
                )
            )
        return cls(
            as_of=t.as_of,
            generated_at=t.generated_at,
            from_=local[0],
            to=local[-1],
            interval=interval,
            timezone=zone.key,
            series=series,
        )


class FunnelStepOut(_Out):
    name: FunnelStep
    count: int = Field(
        examples=[3], description="Of the cohort: reached this and every step before."
    )
    conversion: RatioOut | None = Field(description="From the step before; null on the first.")
    overall: RatioOut = Field(description="From `registered`.")


class FunnelOut(_Out):
    as_of: AsOf
    generated_at: Generated
    from_: datetime = Field(alias="from")
    to: datetime
    timezone: str = Field(examples=["Asia/Kolkata"])
    steps: list[FunnelStepOut]

    model_config = ConfigDict(populate_by_name=True)

    @classmethod
    def of(cls, f: handlers.Funnel, start: datetime, end: datetime, zone: ZoneInfo) -> FunnelOut:
        steps = [
            FunnelStepOut(
                name=name,
                count=count,
                conversion=None if step is None else RatioOut.of(step),
                overall=RatioOut.of(overall),
            )
            for name, count, (step, overall) in zip(
                FunnelStep, f.counts, funnel_ratios(f.counts), strict=True
            )
        ]
        return cls(
            as_of=f.as_of,
            generated_at=f.generated_at,
            from_=start.astimezone(zone),
            to=end.astimezone(zone),
            timezone=zone.key,
            steps=steps,
        )


class ItemOut(_Out):
    item_id: UUID
    name: str | None = Field(
        examples=["Star Cruiser"], description="null until its catalog event arrives."
    )
    status: str | None = Field(examples=["active"])
    supply_total: int | None = Field(examples=[100])
    requested: int = Field(examples=[9], description="Purchases requested.")
    sold: int = Field(examples=[7], description="Purchases completed (minted).")
    failed: int = Field(examples=[2])
    sell_through: RatioOut = Field(description="sold / supply_total.")
    points_spent_micro: int = Field(examples=[87_500_000])
    points_spent: Points


class ItemsPageOut(_Out):
    as_of: AsOf
    generated_at: Generated
    items: list[ItemOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )

    @classmethod
    def of(cls, p: handlers.ItemsPage) -> ItemsPageOut:
        items = [
            ItemOut(
                item_id=i.item_id,
                name=i.name,
                status=i.status,
                supply_total=i.supply_total,
                requested=i.requested,
                sold=i.sold,
                failed=i.failed,
                sell_through=RatioOut.of(i.sell_through),
                points_spent_micro=i.points_spent_micro,
                points_spent=format_points(i.points_spent_micro),
            )
            for i in p.items
        ]
        return cls(
            as_of=p.as_of, generated_at=p.generated_at, items=items, next_cursor=p.next_cursor
        )
