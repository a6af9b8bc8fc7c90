"""Events of every type the analytics projection consumes, with sensible defaults and times
(`at("2026-03-01T10:00")`), and `journey(...)`: one user's whole walk on every topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from scifikpi_common.events import (
    AccelerationRejected,
    Event,
    MiningAccelerated,
    MiningCompleted,
    MiningStarted,
    MoneyCredited,
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

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def at(value: str | datetime | None = None) -> datetime:
    """`2026-03-01T21:00` (UTC unless an offset is given) -> aware datetime; None -> T0."""
    if value is None:
        return T0
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _id(value: uuid.UUID | None) -> uuid.UUID:
    return value or uuid.uuid4()


# --- auth ---


def registered(
    user: uuid.UUID, when: Any = None, *, account_type: str = "individual", country: str = "DE"
) -> UserRegistered:
    return UserRegistered(
        user_id=user,
        email=f"{user.hex[:8]}@example.com",
        account_type=account_type,
        country=country,
        initial_deposit={"amount_minor": 1500, "currency": "USD"},
        registered_at=at(when),
    )


def activated(user: uuid.UUID, when: Any = None) -> UserActivated:
    return UserActivated(user_id=user, payment_id=str(uuid.uuid4()), activated_at=at(when))


# --- payments ---


def _payment(user: uuid.UUID, purpose: str, provider: str, amount: int, currency: str, pid: Any):
    return {
        "user_id": user,
        "payment_id": _id(pid),
        "purpose": purpose,
        "provider": provider,
        "amount_minor": amount,
        "currency": currency,
    }


def paid(
    user: uuid.UUID,
    when: Any = None,
    *,
    purpose: str = "registration",
    provider: str = "stripe",
    amount: int = 1500,
    currency: str = "USD",
    payment_id: uuid.UUID | None = None,
) -> PaymentSucceeded:
    fields = _payment(user, purpose, provider, amount, currency, payment_id)
    return PaymentSucceeded(**fields, succeeded_at=at(when))


def payment_failed(
    user: uuid.UUID,
    when: Any = None,
    *,
    purpose: str = "topup",
    provider: str = "yoomoney",
    reason: str = "declined",
    amount: int = 50_000,
    currency: str = "RUB",
) -> PaymentFailed:
    fields = _payment(user, purpose, provider, amount, currency, None)
    return PaymentFailed(**fields, reason=reason, failed_at=at(when))


def refunded(p: PaymentSucceeded, when: Any = None, reason: str = "requested") -> PaymentRefunded:
    return PaymentRefunded(
        **p.model_dump(exclude={"succeeded_at"}), reason=reason, refunded_at=at(when)
    )


# --- mining ---


def started(user: uuid.UUID, when: Any = None, *, session_id: Any = None) -> MiningStarted:
    begin = at(when)
    return MiningStarted(
        user_id=user,
        session_id=_id(session_id),
        started_at=begin,
        ends_at=begin + timedelta(hours=1),
        duration_s=3600,
        rate_micro_per_hour=2_000_000,
        target_points_micro=2_000_000,
    )


def accelerated(
    s: MiningStarted, when: Any = None, *, seconds: int = 600, payment_id: Any = None
) -> MiningAccelerated:
    return MiningAccelerated(
        user_id=s.user_id,
        session_id=s.session_id,
        payment_id=_id(payment_id),
        quote_id=uuid.uuid4(),
        seconds_applied=seconds,
        skipped_s=seconds,
        ends_at=s.ends_at - timedelta(seconds=seconds),
        accelerated_at=at(when),
    )


def acceleration_rejected(user: uuid.UUID, when: Any = None) -> AccelerationRejected:
    return AccelerationRejected(
        user_id=user,
        payment_id=uuid.uuid4(),
        quote_id=uuid.uuid4(),
        reason="session_ended",
        rejected_at=at(when),
    )


def completed(s: MiningStarted, when: Any = None, *, points: int | None = None) -> MiningCompleted:
    return MiningCompleted(
        user_id=s.user_id,
        session_id=s.session_id,
        points_micro=points or s.target_points_micro,
        completed_at=at(when),
    )


# --- ledger ---


def money_credited(p: PaymentSucceeded, when: Any = None) -> MoneyCredited:
    return MoneyCredited(
        user_id=p.user_id,
        transfer_id=f"payment:{p.payment_id}",
        booked_at=at(when),
        payment_id=p.payment_id,
        amount_usd_minor=p.amount_minor,
        total_deposits_usd_minor=p.amount_minor,
    )


def points_credited(c: MiningCompleted, when: Any = None) -> PointsCredited:
    return PointsCredited(
        user_id=c.user_id,
        transfer_id=f"mining:{c.session_id}",
        booked_at=at(when),
        session_id=c.session_id,
        points_micro=c.points_micro,
        available_micro=c.points_micro,
    )


def reserved(r: NftPurchaseRequested, when: Any = None) -> PointsReserved:
    return PointsReserved(
        user_id=r.user_id,
        transfer_id=f"nft-hold:{r.purchase_id}",
        booked_at=at(when),
        purchase_id=r.purchase_id,
        points_micro=r.price_points_micro,
        expires_at=at(when) + timedelta(minutes=15),
    )


def reservation_rejected(r: NftPurchaseRequested, when: Any = None) -> PointsReservationRejected:
    return PointsReservationRejected(
        user_id=r.user_id,
        purchase_id=r.purchase_id,
        points_micro=r.price_points_micro,
        reason="insufficient_funds",
        rejected_at=at(when),
    )


def debited(r: NftPurchaseRequested, when: Any = None) -> PointsDebited:
    return PointsDebited(
        user_id=r.user_id,
        transfer_id=f"nft-post:{r.purchase_id}",
        booked_at=at(when),
        purchase_id=r.purchase_id,
        points_micro=r.price_points_micro,
    )


def released(r: NftPurchaseRequested, when: Any = None) -> PointsReleased:
    return PointsReleased(
        user_id=r.user_id,
        transfer_id=f"nft-void:{r.purchase_id}",
        booked_at=at(when),
        purchase_id=r.purchase_id,
        points_micro=r.price_points_micro,
        reason="purchase_failed",
    )


# --- nft ---


def requested(
    user: uuid.UUID,
    when: Any = None,
    *,
    item: uuid.UUID | None = None,
    price: int = 1_000_000,
    purchase_id: Any = None,
) -> NftPurchaseRequested:
    return NftPurchaseRequested(
        user_id=user,
        purchase_id=_id(purchase_id),
        catalog_item_id=_id(item),
        price_points_micro=price,
        requested_at=at(when),
    )


def minted(r: NftPurchaseRequested, when: Any = None) -> NftMinted:
    return NftMinted(
        user_id=r.user_id,
        purchase_id=r.purchase_id,
        catalog_item_id=r.catalog_item_id,
        minted_at=at(when),
    )


def purchase_failed(
    r: NftPurchaseRequested, when: Any = None, reason: str = "insufficient_funds"
) -> NftPurchaseFailed:
    return NftPurchaseFailed(
        user_id=r.user_id, purchase_id=r.purchase_id, reason=reason, failed_at=at(when)
    )


def transferred(r: NftPurchaseRequested, when: Any = None) -> NftTransferred:
    return NftTransferred(
        user_id=r.user_id,
        transfer_id=uuid.uuid4(),
        nft_id=r.purchase_id,
        item_address="0:" + "a" * 64,
        to_address="0:" + "b" * 64,
        message_hash="c" * 64,
        transferred_at=at(when),
    )


def catalog_changed(
    item: uuid.UUID,
    when: Any = None,
    *,
    name: str = "Nebula",
    supply: int = 10,
    price: int = 1_000_000,
    status: str = "active",
) -> NftCatalogItemChanged:
    return NftCatalogItemChanged(
        user_id=uuid.uuid4(),
        item_id=item,
        name=name,
        price_points_micro=price,
        supply_total=supply,
        status=status,
        changed_at=at(when),
    )


def wallet_bound(user: uuid.UUID, when: Any = None) -> NftWalletBound:
    return NftWalletBound(user_id=user, address="0:" + "d" * 64, bound_at=at(when))


def journey(
    user: uuid.UUID | None = None,
    start: Any = None,
    *,
    item: uuid.UUID | None = None,
    account_type: str = "individual",
    country: str = "DE",
    provider: str = "stripe",
) -> list[Event]:
    """One user's whole walk, in saga order, a minute apart: register, pay the deposit, activate,
    mine (accelerated), buy an NFT (minted), a failed second purchase, bind a wallet, transfer."""
    user = user or uuid.uuid4()
    t = [at(start) + timedelta(minutes=i) for i in range(20)]
    deposit = paid(user, t[1], provider=provider)
    session = started(user, t[3])
    done = completed(session, t[6])
    buy = requested(user, t[8], item=item)
    fail = requested(user, t[11], item=item)
    return [
        registered(user, t[0], account_type=account_type, country=country),
        deposit,
        money_credited(deposit, t[1]),
        activated(user, t[2]),
        session,
        accelerated(session, t[4]),
        paid(user, t[4], purpose="acceleration", provider=provider, amount=300),
        done,
        points_credited(done, t[7]),
        buy,
        reserved(buy, t[8]),
        minted(buy, t[9]),
        debited(buy, t[10]),
        fail,
        reserved(fail, t[11]),
        purchase_failed(fail, t[12], reason="mint_failed"),
        released(fail, t[12]),
        wallet_bound(user, t[13]),
        transferred(buy, t[14]),
    ]
