"""The projection's fact rows, pure: what each row adds to the rollups, and how the rows one
business fact is delivered as are joined. No I/O (the rules event -> rows: `domain`).

Two kinds of facts:

- **insert-once** facts (`Payment`, `Acceleration`, `PointMovement`, `Transfer`), keyed by their
  business id: a fact lands once (`ON CONFLICT DO NOTHING`) and its `deltas()` count only if it
  landed, so a redelivery, a replay or the same fact under another event id never counts twice;
- **stepped** facts (`Account`, `Session`, `Purchase`), one row per user / session / purchase that
  several events fill in, possibly out of order (topics arrive independently: a `MiningStarted`
  may land before its user's `UserRegistered`). Each event yields a partial row; `merged` joins
  two rows field by field: a time is the earliest of the two (LEAST), any other field keeps the
  first value known (COALESCE). That join is commutative, associative and idempotent on the
  values one business fact carries, so the final row does not depend on the order or the number
  of deliveries. A stepped row's rollup contribution is a function of the row (`deltas()`), and
  a batch moves the rollups by `shift(before, after)` = deltas(after) - deltas(before): the sum
  over a batch telescopes to the same cells as its events one by one, and a registration that
  lands after the activation moves the activation from the `account_type=;country=` cell to the
  account's real one, so every order of arrival ends with the same figures.

`catalog_items` is state-carried (`NftCatalogItemChanged` is the item's whole state): the latest
`changed_at` wins, `first_seen_at` is the earliest event's time (LEAST, whatever the order of
arrival), and it adds nothing to the rollups (sell-through is a query over facts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

from analytics.domain import Delta, delta, merge


class PaymentOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"


class MovementKind(StrEnum):
    CREDITED = "credited"
    RESERVED = "reserved"
    DEBITED = "debited"
    RELEASED = "released"


#: The metric prefix of a succeeded payment, by purpose.
_SUCCEEDED_METRIC = {
    "registration": "payments.deposits",
    "topup": "payments.topups",
    "acceleration": "payments.accelerations",
}


def _s(value: object) -> str:
    """A dimension value: unknown (None) is the empty string."""
    return "" if value is None else str(value)


# --- stepped facts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """A user's type, country and when they reached each funnel step."""

    user_id: UUID
    account_type: str | None = None
    country: str | None = None
    registered_at: datetime | None = None
    activated_at: datetime | None = None
    first_session_at: datetime | None = None
    first_purchase_at: datetime | None = None
    wallet_bound_at: datetime | None = None
    first_transfer_at: datetime | None = None

    @property
    def key(self) -> UUID:
        return self.user_id

    def deltas(self) -> list[Delta]:
        kind, country = _s(self.account_type), _s(self.country)
        out = []
        if self.registered_at is not None:
            out.append(
                delta("accounts.registered", self.registered_at, account_type=kind, country=country)
            )
        if self.activated_at is not None:
            out.append(
                delta("accounts.activated", self.activated_at, account_type=kind, country=country)
            )
        if self.wallet_bound_at is not None:
            out.append(delta("nft.wallets_bound", self.wallet_bound_at))
        return out


@dataclass(frozen=True, slots=True)
class Session:
    """A mining session: started, and completed with the points it earned."""

    session_id: UUID
    user_id: UUID
    started_at: datetime | None = None
    completed_at: datetime | None = None
    points_micro: int | None = None

    @property
    def key(self) -> UUID:
        return self.session_id

    def deltas(self) -> list[Delta]:
        out = []
        if self.started_at is not None:
            out.append(delta("mining.sessions_started", self.started_at))
        if self.completed_at is not None:
            out.append(delta("mining.sessions_completed", self.completed_at))
            out.append(delta("mining.points_mined", self.completed_at, self.points_micro or 0))
        return out


@dataclass(frozen=True, slots=True)
class Purchase:
    """An NFT purchase: requested at a price, then minted or failed."""

    purchase_id: UUID
    user_id: UUID
    catalog_item_id: UUID | None = None
    price_points_micro: int | None = None
    requested_at: datetime | None = None
    minted_at: datetime | None = None
    failed_at: datetime | None = None
    failure_reason: str | None = None

    @property
    def key(self) -> UUID:
        return self.purchase_id

    def deltas(self) -> list[Delta]:
        item = _s(self.catalog_item_id)
        out = []
        if self.requested_at is not None:
            out.append(delta("nft.purchases_requested", self.requested_at, catalog_item_id=item))
        if self.minted_at is not None:
            out.append(delta("nft.purchases_completed", self.minted_at, catalog_item_id=item))
            if self.price_points_micro is not None:
                spent = self.price_points_micro
                out.append(delta("nft.points_spent", self.minted_at, spent, catalog_item_id=item))
        if self.failed_at is not None:
            reason = _s(self.failure_reason)
            out.append(delta("nft.purchases_failed", self.failed_at, reason=reason))
        return out


Stepped = TypeVar("Stepped", Account, Session, Purchase)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def merged(old: Stepped, new: Stepped) -> Stepped:
    """`old` joined with `new`: times LEAST, every other field the first one known."""
    changes: dict[str, Any] = {}
    for f in fields(old):
        a, b = getattr(old, f.name), getattr(new, f.name)
        changes[f.name] = _earliest(a, b) if f.name.endswith("_at") else (b if a is None else a)
    return replace(old, **changes)


def fold(existing: Mapping[UUID, Stepped], changes: Sequence[Stepped]) -> dict[UUID, Stepped]:
    """The rows `changes` touch after joining each (in order) into the stored one, if any."""
    rows: dict[UUID, Stepped] = {}
    for change in changes:
        current = rows.get(change.key) or existing.get(change.key)
        rows[change.key] = change if current is None else merged(current, change)
    return rows


def shift(before: Mapping[UUID, Stepped], after: Mapping[UUID, Stepped]) -> list[Delta]:
    """What the rollups move by when the rows `before` become `after`: new minus old."""
    out: list[Delta] = []
    for key, row in after.items():
        old = before.get(key)
        out += row.deltas()
        if old is not None:
            out += [replace(d, value=-d.value) for d in old.deltas()]
    return [d for d in merge(out) if d.value != 0]


# --- insert-once facts -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payment:
    """One outcome of one payment (a payment may succeed, then be refunded: two facts)."""

    payment_id: UUID
    outcome: PaymentOutcome
    user_id: UUID
    purpose: str
    provider: str
    currency: str
    amount_minor: int
    reason: str | None
    occurred_at: datetime

    @property
    def key(self) -> tuple[UUID, str]:
        return (self.payment_id, self.outcome.value)

    def deltas(self) -> list[Delta]:
        at, provider, currency, purpose = (
            self.occurred_at,
            self.provider,
            self.currency,
            self.purpose,
        )
        if self.outcome is PaymentOutcome.SUCCEEDED:
            metric, amount = _SUCCEEDED_METRIC[purpose], self.amount_minor
            return [
                delta(f"{metric}.count", at, provider=provider, currency=currency),
                delta(f"{metric}.amount", at, amount, provider=provider, currency=currency),
            ]
        if self.outcome is PaymentOutcome.REFUNDED:
            dims = {"purpose": purpose, "provider": provider, "currency": currency}
            return [
                delta("payments.refunds.count", at, 1, **dims),
                delta("payments.refunds.amount", at, self.amount_minor, **dims),
            ]
        reason = _s(self.reason)
        return [
            delta("payments.failed.count", at, purpose=purpose, provider=provider, reason=reason)
        ]


@dataclass(frozen=True, slots=True)
class Acceleration:
    payment_id: UUID
    session_id: UUID
    user_id: UUID
    seconds_applied: int
    accelerated_at: datetime

    @property
    def key(self) -> UUID:
        return self.payment_id

    def deltas(self) -> list[Delta]:
        return [
            delta("mining.accelerations", self.accelerated_at),
            delta("mining.seconds_skipped", self.accelerated_at, self.seconds_applied),
        ]


@dataclass(frozen=True, slots=True)
class PointMovement:
    """One ledger points transfer (its transfer id differs per kind: `nft-hold:`, `nft-post:`)."""

    transfer_id: str
    kind: MovementKind
    user_id: UUID
    points_micro: int
    booked_at: datetime

    @property
    def key(self) -> str:
        return self.transfer_id

    def deltas(self) -> list[Delta]:
        return [delta(f"points.{self.kind.value}", self.booked_at, self.points_micro)]


@dataclass(frozen=True, slots=True)
class Transfer:
    transfer_id: UUID
    user_id: UUID
    nft_id: UUID
    transferred_at: datetime

    @property
    def key(self) -> UUID:
        return self.transfer_id

    def deltas(self) -> list[Delta]:
        return [delta("nft.transferred", self.transferred_at)]


@dataclass(frozen=True, slots=True)
class CatalogItem:
    item_id: UUID
    name: str
    status: str
    supply_total: int
    price_points_micro: int
    changed_at: datetime
    first_seen_at: datetime

    @property
    def key(self) -> UUID:
        return self.item_id


Fact = (
    Account | Session | Purchase | Payment | Acceleration | PointMovement | Transfer | CatalogItem
)
Once = TypeVar("Once", Payment, Acceleration, PointMovement, Transfer)


def first_of_each(facts: Iterable[Once]) -> list[Once]:
    """One fact per key (the first delivered): what a multi-row insert of the batch holds."""
    seen: dict[object, Once] = {}
    for f in facts:
        seen.setdefault(f.key, f)
    return list(seen.values())


def latest_items(items: Iterable[CatalogItem]) -> list[CatalogItem]:
    """Per catalog item, its latest state (by `changed_at`; the later delivered on a tie), first
    seen at the earliest `first_seen_at` of the batch."""
    latest: dict[UUID, CatalogItem] = {}
    for item in items:
        known = latest.get(item.item_id)
        if known is None:
            latest[item.item_id] = item
            continue
        first = min(known.first_seen_at, item.first_seen_at)
        newer = item if item.changed_at >= known.changed_at else known
        latest[item.item_id] = replace(newer, first_seen_at=first)
    return list(latest.values())
