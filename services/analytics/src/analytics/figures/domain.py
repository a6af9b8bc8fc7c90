"""The rules of the reads: ranges in an IANA timezone, bucket boundaries, windows, ratios. No I/O.

Every boundary is computed on the wall clock of the asked timezone (zoneinfo, so DST changes are
exact) and turned into a UTC instant; a bucket's figure is then the sum of the 15-minute UTC
rollup buckets in `[start, end)`. Every offset in use is a multiple of 15 minutes, so a local
hour, day, week (Monday first) or month is an exact sum of rollup buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scifikpi_common.errors import ValidationFailed

from analytics.domain import BUCKET, METRIC_BY_NAME, Metric, Unit, bucket_of

#: Years a `from`/`to` may name (outside, month arithmetic and old local mean times get odd).
MIN_YEAR, MAX_YEAR = 1970, 9000
_FOUR_PLACES = Decimal("0.0001")
#: An hour bucket closes after this even in a zone whose offset is no multiple of 15 minutes.
_ODD_OFFSET_CAP = timedelta(hours=2)


class Interval(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class FunnelStep(StrEnum):
    REGISTERED = "registered"
    ACTIVATED = "activated"
    FIRST_SESSION = "first_mining_session"
    FIRST_PURCHASE = "first_nft_purchase"
    WALLET_BOUND = "wallet_bound"
    NFT_TRANSFERRED = "nft_transferred"


# --- errors: 422 problems that name the query parameter at fault --------------------------------


class _FieldError(ValidationFailed):
    """A 422 naming the query parameter (`field`, and `errors[0].loc`) as validation-error does."""

    def __init__(self, field: str, detail: str, **extensions: Any) -> None:
        errors = [{"loc": ["query", field], "msg": detail, "type": self.slug}]
        super().__init__(f"{field}: {detail}", field=field, errors=errors, **extensions)


class UnknownMetric(_FieldError):
    slug, title = "unknown-metric", "Unknown metric"


class UnknownTimezone(_FieldError):
    slug, title = "unknown-timezone", "Unknown timezone"


class InvalidDatetime(_FieldError):
    slug, title = "invalid-datetime", "Not an ISO date or datetime"


class InvalidRange(_FieldError):
    slug, title = "invalid-range", "`from` is after `to`"


class TooManyBuckets(_FieldError):
    slug, title = "too-many-buckets", "The range holds too many buckets"


# --- parsing ---------------------------------------------------------------------------------


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone `name` (`Europe/Moscow`, `UTC`), else `UnknownTimezone`."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise UnknownTimezone("timezone", f"{name!r} is not an IANA timezone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UnknownTimezone("timezone", f"{name!r} is not an IANA timezone name") from None


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in `zone` as a UTC instant (the earlier one of a repeated hour; a
    time skipped by DST maps to the instant the clocks jumped)."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def parse_instant(text: str, zone: ZoneInfo, field: str) -> datetime:
    """`2026-03-01` (local midnight), `2026-03-01T10:00` (local) or with an offset / `Z`
    (that instant) -> a UTC instant."""
    text = text.strip()
    try:
        if len(text) == 10:
            at = datetime.combine(date.fromisoformat(text), datetime.min.time())
        else:
            at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidDatetime(field, "expected an ISO 8601 date or datetime") from None
    if not MIN_YEAR <= at.year <= MAX_YEAR:
        raise InvalidDatetime(field, f"the year must be within {MIN_YEAR}..{MAX_YEAR}")
    return local_to_utc(at, zone) if at.tzinfo is None else at.astimezone(UTC)


def parse_range(from_text: str, to_text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = parse_instant(from_text, zone, "from")
    end = parse_instant(to_text, zone, "to")
    if start > end:
        raise InvalidRange("from", "`from` must not be after `to`")
    return start, end


def parse_metrics(text: str) -> list[Metric]:
    """`a,b` -> the metrics, in the order asked, each once; an unknown name is `UnknownMetric`."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UnknownMetric("metrics", "name at least one metric")
    unknown = [n for n in names if n not in METRIC_BY_NAME]
    if unknown:
        raise UnknownMetric(
            "metrics", f"unknown metric {unknown[0][:100]!r}", metric=unknown[0][:100]
        )
    return [METRIC_BY_NAME[n] for n in dict.fromkeys(names)]


# --- buckets -------------------------------------------------------------------------------


def _floor_wall(wall: datetime, interval: Interval) -> datetime:
    wall = wall.replace(tzinfo=None, second=0, microsecond=0)
    if interval is Interval.HOUR:
        return wall.replace(minute=0)
    day = wall.replace(hour=0, minute=0)
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=1)
    return day


def _next_wall(wall: datetime, interval: Interval) -> datetime:
    if interval is Interval.DAY:
        return wall + timedelta(days=1)
    if interval is Interval.WEEK:
        return wall + timedelta(days=7)
    year, month = divmod(wall.year * 12 + wall.month, 12)  # month is 1-based: this is +1
    return wall.replace(year=year, month=month + 1)


def _estimate(start: datetime, end: datetime, interval: Interval) -> int:
    """About how many buckets (within DST slack) before any list is built."""
    span = end - start
    if interval is Interval.HOUR:
        return span // timedelta(hours=1)
    if interval is Interval.DAY:
        return span.days
    if interval is Interval.WEEK:
        return span.days // 7
    return (end.year - start.year) * 12 + end.month - start.month


def _hour_bounds(start: datetime, end: datetime, zone: ZoneInfo, limit: int) -> list[datetime]:
    """Local hour boundaries: the instants on the 15-minute grid whose wall clock shows :00 (a
    repeated hour is two buckets, a skipped one none)."""
    first = local_to_utc(_floor_wall(start.astimezone(zone), Interval.HOUR), zone)
    bounds, at = [first], first
    while bounds[-1] < end and len(bounds) <= limit + 1:
        at += BUCKET
        wall = at.astimezone(zone)
        if (wall.minute == 0 and wall.second == 0) or at - bounds[-1] >= _ODD_OFFSET_CAP:
            bounds.append(at)
    return bounds


def bucket_bounds(
    start: datetime, end: datetime, interval: Interval, zone: ZoneInfo, max_buckets: int
) -> list[datetime]:
    """The UTC instants `b0 < b1 < ... < bn` of the local buckets covering `[start, end)`: `b0`
    is `start` floored to its interval, `bn` the first boundary at or after `end`."""
    if _estimate(start, end, interval) > max_buckets + 2:
        _too_many(_estimate(start, end, interval), max_buckets)
    if interval is Interval.HOUR:
        bounds = _hour_bounds(start, end, zone, max_buckets)
    else:
        wall = _floor_wall(start.astimezone(zone), interval)
        bounds = [local_to_utc(wall, zone)]
        while bounds[-1] < end and len(bounds) <= max_buckets + 1:
            wall = _next_wall(wall, interval)
            bounds.append(local_to_utc(wall, zone))
    if len(bounds) - 1 > max_buckets:
        _too_many(max(len(bounds) - 1, _estimate(start, end, interval)), max_buckets)
    return bounds


def _too_many(buckets: int, max_buckets: int) -> None:
    raise TooManyBuckets(
        "to",
        f"the range from `from` to `to` holds about {buckets} buckets, more than the limit "
        f"of {max_buckets}: shorten it or use a longer interval",
        max_buckets=max_buckets,
        buckets=buckets,
    )


# --- summary windows -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    start: datetime
    end: datetime


WINDOW_SPANS: tuple[tuple[str, timedelta], ...] = (
    ("last_24h", timedelta(hours=24)),
    ("last_7d", timedelta(days=7)),
    ("last_30d", timedelta(days=30)),
)


def windows(now: datetime) -> tuple[Window, ...]:
    """The last 24 h / 7 d / 30 d as whole 15-minute buckets ending with the current one."""
    end = bucket_of(now) + BUCKET
    return tuple(Window(name, end - span, end) for name, span in WINDOW_SPANS)


# --- figures -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ratio:
    """`numerator / denominator` exactly, plus the decimal rounded half-even to 4 places (None
    when the denominator is 0)."""

    numerator: int
    denominator: int

    @property
    def value(self) -> str | None:
        if self.denominator == 0:
            return None
        exact = Decimal(self.numerator) / Decimal(self.denominator)
        return str(exact.quantize(_FOUR_PLACES, rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Percentiles:
    """p50 / p90 (percentile_disc: a value that occurred) in whole milliseconds, of `count`."""

    count: int
    p50_ms: int | None
    p90_ms: int | None


def millis(delta: timedelta | None) -> int | None:
    """A duration in whole milliseconds (rounded down), exactly (no float)."""
    if delta is None:
        return None
    return (delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds) // 1000


def is_money(metric: Metric) -> bool:
    return metric.unit is Unit.MINOR_UNITS


def is_points(metric: Metric) -> bool:
    return metric.unit is Unit.MICRO_POINTS


def funnel_ratios(counts: Sequence[int]) -> list[tuple[Ratio | None, Ratio]]:
    """Per step: the conversion from the step before (None for the first) and from the start."""
    out: list[tuple[Ratio | None, Ratio]] = []
    for i, count in enumerate(counts):
        step = None if i == 0 else Ratio(count, counts[i - 1])
        out.append((step, Ratio(count, counts[0] if counts else 0)))
    return out


# --- what the repository reads ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RollupSum:
    """One metric × dimension: the all-time sum and the sum in each window (WINDOW_SPANS order)."""

    metric: str
    dimension: str
    total: int
    windows: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SeriesCell:
    """One series (a metric; per currency for money) in bucket `index` (0-based)."""

    metric: str
    currency: str | None
    index: int
    value: int


@dataclass(frozen=True, slots=True)
class FactFigures:
    """The figures that are queries over facts, not sums of buckets."""

    registered: int
    activated: int
    time_to_activation: Percentiles
    users_mining_now: int
    mint_latency: Percentiles
    nft_sold: int
    nft_supply_total: int


@dataclass(frozen=True, slots=True)
class ItemFigures:
    """One catalog item with its purchases; `name`/`status`/`supply_total` are None for an item
    seen in purchases whose catalog event has not arrived. `at` is the page order key: its
    `first_seen_at` (else its first purchase's `requested_at`)."""

    item_id: UUID
    name: str | None
    status: str | None
    supply_total: int | None
    price_points_micro: int | None
    requested: int
    sold: int
    failed: int
    points_spent_micro: int
    at: datetime

    @property
    def sell_through(self) -> Ratio:
        return Ratio(self.sold, self.supply_total or 0)
