"""Races against real Postgres: holds never overdraw; each hold resolves exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

from _ledger_helpers import deliver, mined, requested
from ledger import handlers
from ledger.domain import AccountKind, Phase, Posting, TransferKind
from ledger.processes import sweep_once
from ledger.repository import AccountRepository, PostingRepository
from sqlalchemy import text

PRICE = 1_000_000


async def _hold(factory, user, purchase, ttl: timedelta) -> Posting:
    async with factory() as uow:
        s = uow.session
        sales = await AccountRepository(s).account_id(AccountKind.nft_sales)
        points = await AccountRepository(s).account_id(AccountKind.user_points, user)
        posting = await PostingRepository(s).post_transfer(
            transfer_id=f"nft-hold:{purchase}",
            debit=points,
            credit=sales,
            amount=PRICE,
            kind=TransferKind.nft_hold,
            user_id=user,
            hold_ttl=ttl,
        )
        await uow.commit()
        return posting


async def _ok(factory) -> None:
    async with factory() as uow:
        report = await handlers.check_invariants(uow)
    assert report.ok, report.problems


async def test_200_parallel_holds_against_a_balance_for_10(engine, factory, settings) -> None:
    user = uuid.uuid4()
    await deliver(factory, mined(user, 10 * PRICE))
    events = [requested(user, PRICE) for _ in range(200)]
    outcomes = await asyncio.gather(*(deliver(factory, e) for e in events))
    assert all(o == ["handled"] for o in outcomes)
    async with engine.connect() as conn:
        types = Counter(
            r.event_type for r in await conn.execute(text("SELECT event_type FROM ledger.outbox"))
        )
        holds = (
            await conn.execute(text("SELECT count(*) FROM ledger.transfers WHERE phase='pending'"))
        ).scalar_one()
    assert types["PointsReserved"] == 10
    assert types["PointsReservationRejected"] == 190
    assert holds == 10
    async with factory() as uow:
        points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
    assert (points.available, points.pending_debits, points.posted) == (0, 10 * PRICE, 10 * PRICE)
    await _ok(factory)


async def test_capture_racing_expiry_exactly_one_wins(engine, factory) -> None:
    """Both are eligible: the capture's transaction started before `expires_at`, the expiry's
    after it. The partial unique index lets exactly one of them resolve each hold."""
    user = uuid.uuid4()
    n = 20
    await deliver(factory, mined(user, n * PRICE))
    purchases = [uuid.uuid4() for _ in range(n)]
    for p in purchases:
        assert (await _hold(factory, user, p, timedelta(milliseconds=600))).created

    async def capture(purchase, uow) -> str:
        posting = await PostingRepository(uow.session).resolve_hold(
            hold=f"nft-hold:{purchase}",
            resolution_id=f"nft-post:{purchase}",
            phase=Phase.post,
            kind=TransferKind.nft_post,
        )
        await uow.commit()
        return posting.status

    async def expire(purchase) -> str:
        async with factory() as uow:
            posting = await handlers.expire(uow, f"nft-hold:{purchase}")
            await uow.commit()
            return posting.status

    uows = [factory() for _ in purchases]
    for uow in uows:
        await uow.__aenter__()
        await uow.session.execute(text("SELECT now()"))  # pins the capture's now() before expiry
    try:
        await asyncio.sleep(0.9)
        results = await asyncio.gather(
            *(capture(p, u) for p, u in zip(purchases, uows, strict=True)),
            *(expire(p) for p in purchases),
        )
    finally:
        for uow in uows:
            await uow.__aexit__(None, None, None)
    captures, expiries = results[:n], results[n:]
    for c, e in zip(captures, expiries, strict=True):
        assert sorted([c, e]) == ["already_resolved", "created"], (c, e)
    async with engine.connect() as conn:
        per_hold = (
            (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM ledger.transfers WHERE pending_id IS NOT NULL"
                        " GROUP BY pending_id"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert per_hold == [1] * n
    async with factory() as uow:
        points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
    won = captures.count("created")
    assert points.pending_debits == 0
    assert points.posted == (n - won) * PRICE
    await _ok(factory)


async def test_parallel_post_and_void_resolve_once(factory) -> None:
    user = uuid.uuid4()
    await deliver(factory, mined(user, 5 * PRICE))
    purchases = [uuid.uuid4() for _ in range(5)]
    for p in purchases:
        await _hold(factory, user, p, timedelta(hours=1))

    async def resolve(purchase, phase: Phase, attempt: int) -> str:
        async with factory() as uow:
            posting = await PostingRepository(uow.session).resolve_hold(
                hold=f"nft-hold:{purchase}",
                resolution_id=f"nft-{phase.value}:{purchase}",
                phase=phase,
                kind=TransferKind.nft_post if phase is Phase.post else TransferKind.nft_void,
            )
            await uow.commit()
            return posting.status

    results = await asyncio.gather(
        *(resolve(p, ph, i) for p in purchases for ph in (Phase.post, Phase.void) for i in range(5))
    )
    assert Counter(results)["created"] == 5
    await _ok(factory)


async def test_sweeper_expires_due_holds_once(engine, factory) -> None:
    user = uuid.uuid4()
    await deliver(factory, mined(user, 3 * PRICE))
    await _hold(factory, user, uuid.uuid4(), timedelta(milliseconds=1))
    await _hold(factory, user, uuid.uuid4(), timedelta(hours=1))
    await asyncio.sleep(0.05)
    counts = await asyncio.gather(*(sweep_once(factory, 100) for _ in range(4)))
    assert sum(counts) == 1
    assert await sweep_once(factory, 100) == 0
    async with factory() as uow:
        points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
    assert (points.available, points.pending_debits) == (2 * PRICE, PRICE)
    async with engine.connect() as conn:
        released = (
            (
                await conn.execute(
                    text("SELECT payload FROM ledger.outbox WHERE event_type = 'PointsReleased'")
                )
            )
            .scalars()
            .all()
        )
    assert [r["payload"]["reason"] for r in released] == ["expired"]
    await _ok(factory)
