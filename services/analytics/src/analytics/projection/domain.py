"""The projection's rules, pure: what each consumed event is as fact rows (`facts`: the rows,
their rollup deltas, and the order-independent join of a stepped row). No I/O.

`changes_of` turns a batch into facts per kind, each kind in delivery order; `RULES` names every
event type the projection consumes (the consumers register exactly these, per topic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scifikpi_common.events import (
    AccelerationRejected,
    Event,
    MiningAccelerated,
    MiningCompleted,
    MiningStarted,
    MoneyCredited,
    MoneyDebited,
    NftMinted,
    NftPurchaseFailed,
    NftPurchaseRequested,
    NftTransferred,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
    PointsCredited,
    PointsDebited,
    PointsReleased,
    PointsReservationRejected,
    PointsReserved,
    UserActivated,
    UserRegistered,
)
from scifikpi_common.events.nft import NftCatalogItemChanged, NftWalletBound

from analytics.projection.facts import (
    Acceleration,
    Account,
    CatalogItem,
    Fact,
    MovementKind,
    Once,
    Payment,
    PaymentOutcome,
    PointMovement,
    Purchase,
    Session,
    Stepped,
    Transfer,
    first_of_each,
    fold,
    latest_items,
    merged,
    shift,
)

__all__ = [
    "Account",
    "Acceleration",
    "CatalogItem",
    "Fact",
    "MovementKind",
    "Once",
    "Payment",
    "PaymentOutcome",
    "PointMovement",
    "Purchase",
    "Session",
    "Stepped",
    "Transfer",
    "first_of_each",
    "fold",
    "latest_items",
    "merged",
    "shift",
    "Changes",
    "RULES",
    "Rule",
    "changes_of",
    "events_by_topic",
    "facts_of",
]


@dataclass
class Changes:
    """A batch's facts, per kind, in delivery order."""

    accounts: list[Account] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    accelerations: list[Acceleration] = field(default_factory=list)
    movements: list[PointMovement] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    catalog: list[CatalogItem] = field(default_factory=list)

    def add(self, fact: Fact) -> None:
        kinds: dict[type, list[Any]] = {
            Account: self.accounts,
            Session: self.sessions,
            Purchase: self.purchases,
            Payment: self.payments,
            Acceleration: self.accelerations,
            PointMovement: self.movements,
            Transfer: self.transfers,
            CatalogItem: self.catalog,
        }
        kinds[type(fact)].append(fact)


# --- the rules: event -> facts ----------------------------------------------------------------

Rule = Callable[[Any, datetime], list[Fact]]


def _registered(e: UserRegistered, _: datetime) -> list[Fact]:
    return [Account(e.user_id, e.account_type, e.country, registered_at=e.registered_at)]


def _activated(e: UserActivated, _: datetime) -> list[Fact]:
    return [Account(e.user_id, activated_at=e.activated_at)]


def _payment(outcome: PaymentOutcome) -> Rule:
    def rule(e: PaymentSucceeded | PaymentFailed | PaymentRefunded, _: datetime) -> list[Fact]:
        if isinstance(e, PaymentSucceeded):
            at, reason = e.succeeded_at, None
        elif isinstance(e, PaymentFailed):
            at, reason = e.failed_at, e.reason
        else:
            at, reason = e.refunded_at, e.reason
        return [
            Payment(
                e.payment_id,
                outcome,
                e.user_id,
                e.purpose,
                e.provider,
                e.currency,
                e.amount_minor,
                reason,
                at,
            )
        ]

    return rule


def _started(e: MiningStarted, _: datetime) -> list[Fact]:
    return [
        Session(e.session_id, e.user_id, started_at=e.started_at),
        Account(e.user_id, first_session_at=e.started_at),
    ]


def _accelerated(e: MiningAccelerated, _: datetime) -> list[Fact]:
    return [
        Acceleration(e.payment_id, e.session_id, e.user_id, e.seconds_applied, e.accelerated_at)
    ]


def _completed(e: MiningCompleted, _: datetime) -> list[Fact]:
    return [
        Session(e.session_id, e.user_id, completed_at=e.completed_at, points_micro=e.points_micro)
    ]


def _movement(kind: MovementKind) -> Rule:
    def rule(
        e: PointsCredited | PointsReserved | PointsDebited | PointsReleased, _: datetime
    ) -> list[Fact]:
        return [PointMovement(e.transfer_id, kind, e.user_id, e.points_micro, e.booked_at)]

    return rule


def _requested(e: NftPurchaseRequested, occurred_at: datetime) -> list[Fact]:
    at = e.requested_at or occurred_at
    return [
        Purchase(e.purchase_id, e.user_id, e.catalog_item_id, e.price_points_micro, requested_at=at)
    ]


def _minted(e: NftMinted, occurred_at: datetime) -> list[Fact]:
    at = e.minted_at or occurred_at
    return [
        Purchase(e.purchase_id, e.user_id, e.catalog_item_id, minted_at=at),
        Account(e.user_id, first_purchase_at=at),
    ]


def _failed(e: NftPurchaseFailed, occurred_at: datetime) -> list[Fact]:
    at = e.failed_at or occurred_at
    return [Purchase(e.purchase_id, e.user_id, failed_at=at, failure_reason=e.reason)]


def _transferred(e: NftTransferred, _: datetime) -> list[Fact]:
    return [
        Transfer(e.transfer_id, e.user_id, e.nft_id, e.transferred_at),
        Account(e.user_id, first_transfer_at=e.transferred_at),
    ]


def _catalog(e: NftCatalogItemChanged, _: datetime) -> list[Fact]:
    at = e.changed_at
    return [CatalogItem(e.item_id, e.name, e.status, e.supply_total, e.price_points_micro, at, at)]


def _wallet(e: NftWalletBound, _: datetime) -> list[Fact]:
    return [Account(e.user_id, wallet_bound_at=e.bound_at)]


def _nothing(_: Event, __: datetime) -> list[Fact]:
    """Consumed (and counted in topic progress) but no figure of its own."""
    return []


#: Every event type the projection consumes, and its facts.
RULES: Mapping[type[Event], Rule] = {
    UserRegistered: _registered,
    UserActivated: _activated,
    PaymentSucceeded: _payment(PaymentOutcome.SUCCEEDED),
    PaymentFailed: _payment(PaymentOutcome.FAILED),
    PaymentRefunded: _payment(PaymentOutcome.REFUNDED),
    MiningStarted: _started,
    MiningAccelerated: _accelerated,
    AccelerationRejected: _nothing,
    MiningCompleted: _completed,
    MoneyCredited: _nothing,
    MoneyDebited: _nothing,
    PointsCredited: _movement(MovementKind.CREDITED),
    PointsReserved: _movement(MovementKind.RESERVED),
    PointsReservationRejected: _nothing,
    PointsDebited: _movement(MovementKind.DEBITED),
    PointsReleased: _movement(MovementKind.RELEASED),
    NftPurchaseRequested: _requested,
    NftMinted: _minted,
    NftPurchaseFailed: _failed,
    NftTransferred: _transferred,
    NftCatalogItemChanged: _catalog,
    NftWalletBound: _wallet,
}


def facts_of(event: Event, occurred_at: datetime) -> list[Fact]:
    """The fact rows one event is (`occurred_at`, the envelope's, stands in for a missing time)."""
    return RULES[type(event)](event, occurred_at)


def changes_of(items: Iterable[tuple[Event, datetime]]) -> Changes:
    """A batch's `(event, occurred_at)` as facts per kind, each kind in delivery order."""
    changes = Changes()
    for event, occurred_at in items:
        for fact in facts_of(event, occurred_at):
            changes.add(fact)
    return changes


def events_by_topic() -> dict[str, list[type[Event]]]:
    """The consumed event types, per topic (one batch handler each)."""
    topics: dict[str, list[type[Event]]] = {}
    for cls in RULES:
        topics.setdefault(cls.TOPIC, []).append(cls)
    return topics
