"""Event contracts: the envelope and every published event's payload schema.

The committed AsyncAPI document, docs/asyncapi.yaml, is generated from these models
(`python -m scifikpi_common.events.asyncapi`; a test keeps it current).

A breaking change to a payload means a new `.v2` topic, never an in-place edit: fields may only be
added, and only as optional.
"""

from scifikpi_common.events.auth import UserActivated, UserRegistered
from scifikpi_common.events.base import Envelope, Event
from scifikpi_common.events.ledger import (
    MoneyCredited,
    MoneyDebited,
    PointsCredited,
    PointsDebited,
    PointsReleased,
    PointsReservationRejected,
    PointsReserved,
)
from scifikpi_common.events.mining import (
    AccelerationRejected,
    MiningAccelerated,
    MiningCompleted,
    MiningStarted,
)
from scifikpi_common.events.nft import (
    NftCatalogItemChanged,
    NftMinted,
    NftPurchaseFailed,
    NftPurchaseRequested,
    NftTransferred,
    NftWalletBound,
)
from scifikpi_common.events.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded

#: Every event type we publish, by `event_type`.
ALL_EVENTS: dict[str, type[Event]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        UserRegistered,
        UserActivated,
        PaymentSucceeded,
        PaymentFailed,
        PaymentRefunded,
        MiningStarted,
        MiningAccelerated,
        AccelerationRejected,
        MiningCompleted,
        MoneyCredited,
        MoneyDebited,
        PointsCredited,
        PointsReserved,
        PointsReservationRejected,
        PointsDebited,
        PointsReleased,
        NftPurchaseRequested,
        NftMinted,
        NftPurchaseFailed,
        NftTransferred,
        NftCatalogItemChanged,
        NftWalletBound,
    )
}

__all__ = [
    "ALL_EVENTS",
    "AccelerationRejected",
    "Envelope",
    "Event",
    "MiningCompleted",
    "MoneyCredited",
    "MoneyDebited",
    "MiningStarted",
    "MiningAccelerated",
    "NftCatalogItemChanged",
    "NftMinted",
    "NftPurchaseFailed",
    "NftPurchaseRequested",
    "NftTransferred",
    "NftWalletBound",
    "PaymentFailed",
    "PaymentRefunded",
    "PaymentSucceeded",
    "PointsCredited",
    "PointsDebited",
    "PointsReleased",
    "PointsReservationRejected",
    "PointsReserved",
    "UserActivated",
    "UserRegistered",
]
