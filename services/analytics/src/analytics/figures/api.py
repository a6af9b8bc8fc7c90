"""Admin routes under `/admin/analytics`: admin token only; GETs that never write.

Each answers JSON, or CSV on `Accept: text/csv` (one row per figure, bucket, step or item, an
`as_of` column on every row). Bad query parameters are 422 problems naming the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from scifikpi_common.app import UoW
from scifikpi_common.clock import utcnow
from scifikpi_common.errors import Forbidden, InvalidCursor, InvalidToken
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentAdmin

from analytics.figures import csv, handlers
from analytics.figures.domain import (
    Interval,
    InvalidDatetime,
    InvalidRange,
    TooManyBuckets,
    UnknownMetric,
    UnknownTimezone,
    bucket_bounds,
    parse_metrics,
    parse_range,
    zone_of,
)
from analytics.figures.schemas import FunnelOut, ItemsPageOut, SummaryOut, TimeseriesOut
from analytics.settings import AnalyticsSettings

router = APIRouter(prefix="/admin/analytics", tags=["analytics"])

_ADMIN = (InvalidToken, Forbidden)
_RANGE = (UnknownTimezone, InvalidDatetime, InvalidRange)


def _settings(request: Request) -> AnalyticsSettings:
    settings: AnalyticsSettings = request.app.state.settings
    return settings


Settings = Annotated[AnalyticsSettings, Depends(_settings)]
From = Annotated[
    str,
    Query(
        alias="from",
        max_length=40,
        description="Start (inclusive): an ISO date (`2026-03-01`, local midnight) or datetime "
        "(`2026-03-01T10:00`, local; or with an offset / `Z`), read in `timezone`.",
        examples=["2026-03-01"],
    ),
]
To = Annotated[
    str,
    Query(
        max_length=40,
        description="End (exclusive), the same forms: all of March is `from=2026-03-01&"
        "to=2026-04-01`.",
        examples=["2026-04-01"],
    ),
]
Timezone = Annotated[
    str,
    Query(
        max_length=64,
        description="IANA timezone the dates and bucket boundaries are in (DST-exact).",
        examples=["Europe/Moscow"],
    ),
]


def _csv_doc(example: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {
            "description": "JSON; or CSV on `Accept: text/csv` (an `as_of` column on every row).",
            "content": {
                csv.CSV_MEDIA_TYPE.split(";")[0]: {"schema": {"type": "string"}, "example": example}
            },
        }
    }


def _csv(body: str, headers: dict[str, str] | None = None) -> Response:
    return Response(body, media_type=csv.CSV_MEDIA_TYPE, headers=headers)


@router.get(
    "/summary",
    response_model=SummaryOut,
    responses={
        **_csv_doc(
            "as_of,figure,dimension,unit,total,last_24h,last_7d,last_30d\r\n"
            "2026-12-07T09:30:12+00:00,accounts.registered,,count,4,1,3,4\r\n"
        ),
        **problem_responses(*_ADMIN),
    },
)
async def summary(request: Request, _admin: CurrentAdmin, uow: UoW) -> Any:
    """Every metric all-time and in the last 24 h / 7 d / 30 d (whole 15-minute UTC buckets
    ending with the current one), money per provider and currency (never summed across
    currencies), plus the figures over facts: activation rate, time to activation and mint
    latency p50/p90 (over the last 30 days), users mining now, points held now, NFT
    sell-through."""
    body = SummaryOut.of(await handlers.summary(uow, utcnow()))
    if csv.wants_csv(request.headers.get("accept")):
        return _csv(csv.summary_csv(body))
    return body


@router.get(
    "/timeseries",
    response_model=TimeseriesOut,
    responses={
        **_csv_doc(
            "as_of,metric,currency,unit,bucket_start,bucket_end,value\r\n"
            "2026-12-07T09:30:12+00:00,accounts.registered,,count,"
            "2026-03-01T00:00:00+03:00,2026-03-02T00:00:00+03:00,2\r\n"
        ),
        **problem_responses(*_ADMIN, UnknownMetric, *_RANGE, TooManyBuckets),
    },
)
async def timeseries(
    request: Request,
    _admin: CurrentAdmin,
    uow: UoW,
    settings: Settings,
    metrics: Annotated[
        str,
        Query(
            max_length=2000,
            description="Comma-separated metric names (GET /admin/analytics/summary lists them).",
            examples=["accounts.registered,payments.deposits.amount"],
        ),
    ],
    from_: From,
    to: To,
    interval: Annotated[Interval, Query(description="Bucket size; weeks start on Monday.")] = (
        Interval.DAY
    ),
    timezone: Timezone = "UTC",
) -> Any:
    """One series per metric (per currency for money), a bucket per local hour, day, week or
    month in `timezone`, every bucket present (0 when empty); each bucket is the exact sum of
    the 15-minute UTC rollups inside it. At most `ANALYTICS_MAX_BUCKETS` buckets (else 422
    `too-many-buckets`)."""
    wanted = parse_metrics(metrics)
    zone = zone_of(timezone)
    start, end = parse_range(from_, to, zone)
    bounds = bucket_bounds(start, end, interval, zone, settings.max_buckets)
    result = await handlers.timeseries(uow, wanted, bounds, utcnow())
    body = TimeseriesOut.of(result, interval, zone)
    if csv.wants_csv(request.headers.get("accept")):
        return _csv(csv.timeseries_csv(body))
    return body


@router.get(
    "/funnel",
    response_model=FunnelOut,
    responses={
        **_csv_doc(
            "as_of,step,count,conversion_numerator,conversion_denominator,conversion,overall\r\n"
            "2026-12-07T09:30:12+00:00,registered,4,,,,1.0000\r\n"
        ),
        **problem_responses(*_ADMIN, *_RANGE),
    },
)
async def funnel(
    request: Request,
    _admin: CurrentAdmin,
    uow: UoW,
    from_: From,
    to: To,
    timezone: Timezone = "UTC",
) -> Any:
    """The accounts registered in `[from, to)`: how many reached each step (registered ->
    activated -> first mining session -> first NFT purchase -> wallet bound -> NFT
    transferred), each counted only with every step before it, with the step conversion."""
    zone = zone_of(timezone)
    start, end = parse_range(from_, to, zone)
    body = FunnelOut.of(await handlers.funnel(uow, start, end, utcnow()), start, end, zone)
    if csv.wants_csv(request.headers.get("accept")):
        return _csv(csv.funnel_csv(body))
    return body


@router.get(
    "/nft/items",
    response_model=ItemsPageOut,
    responses={
        **_csv_doc(
            "as_of,item_id,name,status,supply_total,requested,sold,failed,sell_through,"
            "points_spent_micro\r\n"
        ),
        **problem_responses(*_ADMIN, InvalidCursor),
    },
)
async def nft_items(
    request: Request,
    _admin: CurrentAdmin,
    uow: UoW,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Any:
    """Per catalog item: supply, sold, sell-through, points spent, requested and failed
    purchases; newest item first (by when it was first seen: an edit between two pages moves
    nothing), keyset-paged (CSV: `X-Next-Cursor` header)."""
    body = ItemsPageOut.of(await handlers.items_page(uow, cursor, limit, utcnow()))
    if csv.wants_csv(request.headers.get("accept")):
        headers = {"X-Next-Cursor": body.next_cursor} if body.next_cursor else None
        return _csv(csv.items_csv(body), headers)
    return body
