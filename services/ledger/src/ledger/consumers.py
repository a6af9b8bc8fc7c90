"""Kafka consumers of the ledger service (`ledger-worker`).

- `payments.payment.v1` PaymentSucceeded → deposit (MoneyCredited) or acceleration booking;
  PaymentRefunded → the reversal `refund:<payment_id>`;
- `mining.session.v1` MiningCompleted → `mining:<session_id>` (PointsCredited), consumed in
  batches (`batch_handler`): one transaction per poll's run of MiningCompleted, the issuance
  account moved once per batch (`handlers.credit_mining_batch`);
- `nft.purchase.v1` NftPurchaseRequested → hold (PointsReserved / PointsReservationRejected),
  NftMinted → capture (PointsDebited), NftPurchaseFailed → release (PointsReleased).

The inbox dedupes redelivered events; the transfer ids dedupe the same business fact arriving
under another event id.
"""

from __future__ import annotations

from typing import Any

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events import (
    Envelope,
    MiningCompleted,
    NftMinted,
    NftPurchaseFailed,
    NftPurchaseRequested,
    PaymentRefunded,
    PaymentSucceeded,
)
from scifikpi_common.messaging import EventConsumers

from ledger import handlers
from ledger.models import inbox
from ledger.settings import get_settings

consumers = EventConsumers(service="ledger", inbox=inbox)


@consumers.handler(PaymentSucceeded)
async def on_payment_succeeded(event: PaymentSucceeded, uow: UnitOfWork) -> None:
    await handlers.book_payment(uow, event, get_settings())


@consumers.handler(PaymentRefunded)
async def on_payment_refunded(event: PaymentRefunded, uow: UnitOfWork) -> None:
    await handlers.refund_payment(uow, event)


@consumers.batch_handler(MiningCompleted)
async def on_mining_completed(
    items: list[tuple[MiningCompleted, Envelope[dict[str, Any]]]], uow: UnitOfWork
) -> None:
    await handlers.credit_mining_batch(uow, [event for event, _ in items])


@consumers.handler(NftPurchaseRequested)
async def on_nft_purchase_requested(event: NftPurchaseRequested, uow: UnitOfWork) -> None:
    await handlers.reserve(uow, event, get_settings())


@consumers.handler(NftMinted)
async def on_nft_minted(event: NftMinted, uow: UnitOfWork) -> None:
    await handlers.capture(uow, event)


@consumers.handler(NftPurchaseFailed)
async def on_nft_purchase_failed(event: NftPurchaseFailed, uow: UnitOfWork) -> None:
    await handlers.release(uow, event)
