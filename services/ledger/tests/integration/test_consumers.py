"""The consumers through the real wrapper (inbox + one commit) against real Postgres."""

from __future__ import annotations

import uuid

import pytest
from _ledger_helpers import (
    deliver,
    failed,
    mined,
    minted,
    outbox_types,
    paid,
    refunded,
    requested,
    snapshot,
)
from ledger import handlers
from ledger.consumers import consumers
from ledger.domain import AccountKind, TransferKind
from ledger.repository import AccountRepository, PostingRepository
from scifikpi_common.events import Envelope
from scifikpi_common.messaging import PoisonMessage
from scifikpi_common.money import to_usd_minor
from sqlalchemy import text


async def _balances(factory, kind, user_id):
    async with factory() as uow:
        return await AccountRepository(uow.session).balances(kind, user_id)


async def _assert_ok(factory) -> None:
    async with factory() as uow:
        report = await handlers.check_invariants(uow)
    assert report.ok, report.problems


async def test_every_consumed_event_redelivered_five_times_changes_nothing(engine, factory) -> None:
    user = uuid.uuid4()
    deposit = paid(user, 2500)
    accel = paid(user, 300, purpose="acceleration", provider="yoomoney", currency="RUB")
    mining = mined(user, 7_500_000)
    kept, lost = uuid.uuid4(), uuid.uuid4()
    events = [
        deposit,
        accel,
        mining,
        requested(user, 1_000_000, kept),
        minted(user, kept),
        requested(user, 2_000_000, lost),
        failed(user, lost),
        refunded(deposit),
    ]
    for event in events:
        envelope = Envelope.wrap(event, producer="test")
        assert await deliver(factory, event, envelope=envelope) == ["handled"]
        before = await snapshot(engine)
        for _ in range(5):
            # the same message again (inbox), and the same fact under a new event id (transfer id)
            assert await deliver(factory, event, envelope=envelope) == ["duplicate"]
            assert await deliver(factory, event) == ["handled"]
        assert await snapshot(engine) == before, event.EVENT_TYPE
    assert await outbox_types(engine) == [
        "MoneyCredited",
        "PointsCredited",
        "PointsReserved",
        "PointsDebited",
        "PointsReserved",
        "PointsReleased",
        "MoneyDebited",
    ]
    points = await _balances(factory, AccountKind.user_points, user)
    assert (points.available, points.pending_debits) == (6_500_000, 0)
    money = await _balances(factory, AccountKind.user_money, user)
    assert money.posted == 0  # deposited, then refunded
    await _assert_ok(factory)


async def test_deposit_converts_to_usd_and_reports_the_total(engine, factory, settings) -> None:
    user = uuid.uuid4()
    assert await deliver(factory, paid(user, 1000)) == ["handled"]
    assert await deliver(factory, paid(user, 100_000, "RUB", provider="yoomoney")) == ["handled"]
    async with engine.connect() as conn:
        payloads = [
            r.payload["payload"]
            for r in await conn.execute(text("SELECT payload FROM ledger.outbox ORDER BY id"))
        ]
    rub = to_usd_minor(100_000, "RUB", settings.fx_rates)
    assert [p["total_deposits_usd_minor"] for p in payloads] == [1000, 1000 + rub]
    assert payloads[1]["amount_usd_minor"] == rub
    await _assert_ok(factory)


async def test_acceleration_is_booked_to_revenue_and_refund_reverses_it(factory) -> None:
    user = uuid.uuid4()
    accel = paid(user, 500, purpose="acceleration")
    await deliver(factory, accel)
    revenue = await _balances(factory, AccountKind.acceleration_revenue, None)
    assert revenue.posted == 500
    assert (await _balances(factory, AccountKind.user_money, user)).posted == 0
    await deliver(factory, refunded(accel))
    assert (await _balances(factory, AccountKind.acceleration_revenue, None)).posted == 0
    await _assert_ok(factory)


async def test_hold_rejected_without_funds_and_a_rejected_id_stays_rejected(
    engine, factory
) -> None:
    user, purchase = uuid.uuid4(), uuid.uuid4()
    await deliver(factory, requested(user, 5, purchase))
    await deliver(factory, mined(user, 1_000_000))
    await deliver(factory, requested(user, 5, purchase))  # same purchase, new event id
    assert await outbox_types(engine) == [
        "PointsReservationRejected",
        "PointsCredited",
        "PointsReservationRejected",
    ]
    points = await _balances(factory, AccountKind.user_points, user)
    assert points.pending_debits == 0
    await _assert_ok(factory)


async def test_release_after_capture_changes_nothing(engine, factory) -> None:
    user, purchase = uuid.uuid4(), uuid.uuid4()
    await deliver(factory, mined(user, 3_000_000))
    await deliver(factory, requested(user, 2_000_000, purchase))
    await deliver(factory, minted(user, purchase))
    await deliver(factory, failed(user, purchase))
    points = await _balances(factory, AccountKind.user_points, user)
    assert (points.available, points.posted) == (1_000_000, 1_000_000)
    assert await outbox_types(engine) == ["PointsCredited", "PointsReserved", "PointsDebited"]
    await _assert_ok(factory)


async def test_refund_exceeding_the_money_balance_books_against_shortfall(factory) -> None:
    user = uuid.uuid4()
    deposit = paid(user, 1000)
    await deliver(factory, deposit)
    # money leaves the account by some other booking (none exists yet; simulated here)
    async with factory() as uow:
        money = await AccountRepository(uow.session).account_id(AccountKind.user_money, user)
        clearing = await AccountRepository(uow.session).account_id(AccountKind.clearing_stripe)
        spent = await PostingRepository(uow.session).post_transfer(
            transfer_id=f"refund:{uuid.uuid4()}",
            debit=money,
            credit=clearing,
            amount=600,
            kind=TransferKind.refund,
            user_id=user,
        )
        assert spent.created
        await uow.commit()
    assert await deliver(factory, refunded(deposit)) == ["handled"]
    assert (await _balances(factory, AccountKind.user_money, user)).posted == 400
    shortfall = await _balances(factory, AccountKind.refund_shortfall, None)
    assert shortfall.posted == -1000
    assert await deliver(factory, refunded(deposit)) == ["handled"]  # same fact again: no-op
    assert (await _balances(factory, AccountKind.refund_shortfall, None)).posted == -1000
    await _assert_ok(factory)


async def test_refund_of_an_unbooked_payment_is_retried_then_dead_lettered(factory) -> None:
    """Nothing to reverse yet: the handler fails, the wrapper retries it and (with a broker)
    dead-letters it; without a broker it raises. Nothing is booked."""
    orphan = refunded(paid(uuid.uuid4(), 1000))
    saved = consumers.max_attempts, consumers.backoff_initial_s
    consumers.max_attempts, consumers.backoff_initial_s = 2, 0.01
    try:
        with pytest.raises(PoisonMessage):
            await deliver(factory, orphan)
    finally:
        consumers.max_attempts, consumers.backoff_initial_s = saved
    async with factory() as uow:
        report = await handlers.check_invariants(uow)
    assert report.transfers == 0
