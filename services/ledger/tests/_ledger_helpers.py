"""Event builders and a direct delivery path through the real consumer wrapper."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from ledger.consumers import consumers
from scifikpi_common.events import (
    MiningCompleted,
    NftMinted,
    NftPurchaseFailed,
    NftPurchaseRequested,
    PaymentRefunded,
    PaymentSucceeded,
)
from scifikpi_common.testing.broker import deliver as deliver_to
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def paid(
    user_id: uuid.UUID,
    amount_minor: int = 1000,
    currency: str = "USD",
    *,
    purpose: str = "topup",
    payment_id: uuid.UUID | None = None,
    provider: str = "stripe",
) -> PaymentSucceeded:
    return PaymentSucceeded(
        user_id=user_id,
        payment_id=payment_id or uuid.uuid4(),
        purpose=purpose,
        provider=provider,
        amount_minor=amount_minor,
        currency=currency,
        succeeded_at=NOW,
        quote_id=uuid.uuid4() if purpose == "acceleration" else None,
    )


def refunded(p: PaymentSucceeded) -> PaymentRefunded:
    return PaymentRefunded(**p.model_dump(exclude={"succeeded_at"}), reason="test", refunded_at=NOW)


def mined(
    user_id: uuid.UUID, points_micro: int, session_id: uuid.UUID | None = None
) -> MiningCompleted:
    return MiningCompleted(
        user_id=user_id,
        session_id=session_id or uuid.uuid4(),
        points_micro=points_micro,
        completed_at=NOW,
    )


def requested(
    user_id: uuid.UUID, price: int, purchase_id: uuid.UUID | None = None
) -> NftPurchaseRequested:
    return NftPurchaseRequested(
        user_id=user_id,
        purchase_id=purchase_id or uuid.uuid4(),
        catalog_item_id=uuid.uuid4(),
        price_points_micro=price,
    )


def minted(user_id: uuid.UUID, purchase_id: uuid.UUID) -> NftMinted:
    return NftMinted(user_id=user_id, purchase_id=purchase_id)


def failed(user_id: uuid.UUID, purchase_id: uuid.UUID) -> NftPurchaseFailed:
    return NftPurchaseFailed(user_id=user_id, purchase_id=purchase_id, reason="mint failed")


async def outbox_types(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT event_type FROM ledger.outbox ORDER BY id"))
        return [r.event_type for r in rows]


async def snapshot(engine: AsyncEngine) -> tuple[Any, ...]:
    """Every balance and every transfer id: what a redelivery must leave unchanged."""
    async with engine.connect() as conn:
        accounts = (
            await conn.execute(
                text(
                    "SELECT kind, user_id, posted_debits, posted_credits, pending_debits,"
                    " pending_credits FROM ledger.account_balances ORDER BY kind, user_id"
                )
            )
        ).all()
        transfers = (await conn.execute(text("SELECT id FROM ledger.transfers ORDER BY id"))).all()
        outbox = (await conn.execute(text("SELECT count(*) FROM ledger.outbox"))).scalar_one()
    return tuple(map(tuple, accounts)), tuple(t.id for t in transfers), outbox


async def deliver(factory, event, *, envelope=None) -> list[str]:
    return await deliver_to(consumers, factory, event, envelope=envelope)
