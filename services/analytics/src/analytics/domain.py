"""What analytics counts: the metric catalog, the 15-minute bucket, dimensions. No I/O.

Every metric is an integer sum per 15-minute UTC bucket (`rollups`), in one unit; its stable name
is what the API, the CSV and docs/admin-guide.md use. A dimension is a canonical `key=value;...`
string (keys sorted) so a figure can be broken down (per provider and currency, per country...)
and summed back exactly. Money is never summed across currencies: every money metric carries a
`currency` dimension.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

#: The rollup grain. Every IANA offset in use is a multiple of it, so a local day, week or month
#: is an exact sum of buckets.
BUCKET = timedelta(minutes=15)


class Unit(StrEnum):
    COUNT = "count"
    MINOR_UNITS = "minor_units"  # of the `currency` dimension
    MICRO_POINTS = "micro_points"
    SECONDS = "seconds"


@dataclass(frozen=True, slots=True)
class Metric:
    """One summed figure: its stable name, unit, the dimensions it is kept by, and its source."""

    name: str
    unit: Unit
    dimensions: tuple[str, ...]
    source: str
    description: str


def _m(name: str, unit: Unit, dims: tuple[str, ...], source: str, description: str) -> Metric:
    return Metric(name, unit, dims, source, description)


_MONEY = ("provider", "currency")
C, MINOR, MICRO, SECS = Unit.COUNT, Unit.MINOR_UNITS, Unit.MICRO_POINTS, Unit.SECONDS

#: Every metric, in the order the docs and the summary list them.
METRICS: tuple[Metric, ...] = (
    _m(
        "accounts.registered",
        C,
        ("account_type", "country"),
        "UserRegistered",
        "Accounts registered (individuals and legal entities).",
    ),
    _m(
        "accounts.activated",
        C,
        ("account_type", "country"),
        "UserActivated",
        "Accounts activated by their registration deposit.",
    ),
    _m(
        "payments.deposits.count",
        C,
        _MONEY,
        "PaymentSucceeded purpose=registration",
        "Registration deposits that succeeded.",
    ),
    _m(
        "payments.deposits.amount",
        MINOR,
        _MONEY,
        "PaymentSucceeded purpose=registration",
        "Money of the succeeded registration deposits.",
    ),
    _m(
        "payments.topups.count",
        C,
        _MONEY,
        "PaymentSucceeded purpose=topup",
        "Balance top-ups that succeeded.",
    ),
    _m(
        "payments.topups.amount",
        MINOR,
        _MONEY,
        "PaymentSucceeded purpose=topup",
        "Money of the succeeded top-ups.",
    ),
    _m(
        "payments.accelerations.count",
        C,
        _MONEY,
        "PaymentSucceeded purpose=acceleration",
        "Acceleration payments that succeeded.",
    ),
    _m(
        "payments.accelerations.amount",
        MINOR,
        _MONEY,
        "PaymentSucceeded purpose=acceleration",
        "Money of the succeeded acceleration payments.",
    ),
    _m(
        "payments.refunds.count",
        C,
        ("purpose", *_MONEY),
        "PaymentRefunded",
        "Payments returned to the payer.",
    ),
    _m(
        "payments.refunds.amount",
        MINOR,
        ("purpose", *_MONEY),
        "PaymentRefunded",
        "Money returned to payers.",
    ),
    _m(
        "payments.failed.count",
        C,
        ("purpose", "provider", "reason"),
        "PaymentFailed",
        "Payments that ended without money moving, by reason.",
    ),
    _m("mining.sessions_started", C, (), "MiningStarted", "Mining sessions started."),
    _m("mining.sessions_completed", C, (), "MiningCompleted", "Mining sessions completed."),
    _m(
        "mining.accelerations",
        C,
        (),
        "MiningAccelerated",
        "Paid accelerations applied to a running session.",
    ),
    _m(
        "mining.seconds_skipped",
        SECS,
        (),
        "MiningAccelerated",
        "Session seconds skipped by accelerations.",
    ),
    _m("mining.points_mined", MICRO, (), "MiningCompleted", "Points earned by completed sessions."),
    _m("points.credited", MICRO, (), "PointsCredited", "Points credited to users by the ledger."),
    _m("points.reserved", MICRO, (), "PointsReserved", "Points put on hold for NFT purchases."),
    _m("points.debited", MICRO, (), "PointsDebited", "Held points captured (spent)."),
    _m(
        "points.released",
        MICRO,
        (),
        "PointsReleased",
        "Held points returned (purchase failed or hold expired).",
    ),
    _m(
        "nft.purchases_requested",
        C,
        ("catalog_item_id",),
        "NftPurchaseRequested",
        "NFT purchases requested.",
    ),
    _m(
        "nft.purchases_completed",
        C,
        ("catalog_item_id",),
        "NftMinted",
        "NFT purchases completed (minted).",
    ),
    _m(
        "nft.purchases_failed",
        C,
        ("reason",),
        "NftPurchaseFailed",
        "NFT purchases that failed, by reason.",
    ),
    _m(
        "nft.points_spent",
        MICRO,
        ("catalog_item_id",),
        "NftMinted (the requested price)",
        "Points spent on completed NFT purchases.",
    ),
    _m("nft.transferred", C, (), "NftTransferred", "NFTs sent to their owners' wallets."),
    _m("nft.wallets_bound", C, (), "NftWalletBound", "TON wallets bound to accounts."),
)

METRIC_BY_NAME: Mapping[str, Metric] = {m.name: m for m in METRICS}


def bucket_of(at: datetime) -> datetime:
    """The start of the 15-minute UTC bucket holding `at` (aware datetimes only)."""
    if at.tzinfo is None:
        raise ValueError("analytics times are aware (UTC)")
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def dimension(**values: object) -> str:
    """The canonical dimension string: `currency=USD;provider=stripe` (keys sorted; None -> '')."""
    return ";".join(f"{k}={'' if v is None else v}" for k, v in sorted(values.items()))


def parse_dimension(text: str) -> dict[str, str]:
    """The inverse of `dimension`."""
    if not text:
        return {}
    return dict(part.split("=", 1) for part in text.split(";"))


@dataclass(frozen=True, slots=True)
class Delta:
    """One fact's contribution to one rollup cell."""

    metric: str
    dimension: str
    bucket_start: datetime
    value: int


def delta(metric: str, at: datetime, value: int = 1, **dims: object) -> Delta:
    """A contribution to `metric` in the bucket of `at`, kept by the metric's dimensions."""
    spec = METRIC_BY_NAME[metric]
    if set(dims) != set(spec.dimensions):
        raise ValueError(f"{metric} is kept by {spec.dimensions}, not {tuple(sorted(dims))}")
    return Delta(metric, dimension(**dims), bucket_of(at), value)


def merge(deltas: list[Delta]) -> list[Delta]:
    """The same contributions summed per cell: one upsert per cell and batch."""
    cells: dict[tuple[str, str, datetime], int] = {}
    for d in deltas:
        key = (d.metric, d.dimension, d.bucket_start)
        cells[key] = cells.get(key, 0) + d.value
    return [Delta(m, dim, b, v) for (m, dim, b), v in cells.items()]
