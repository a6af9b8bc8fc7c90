"""The fast posting paths against real Postgres: the batch credit path (handler and consumer),
batches racing single postings and holds, slotted system accounts, MoneyDebited on refunds,
and migration 0002 down/up with data."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from _ledger_helpers import deliver, mined, outbox_types, paid, refunded, requested, snapshot
from alembic import command
from ledger import handlers
from ledger.consumers import consumers
from ledger.domain import Account, AccountKind, Posting, TransferKind, mining_transfer_id
from ledger.models import SCHEMA, make_outbox
from ledger.repository import AccountRepository, PostingRepository
from ledger.settings import LedgerSettings
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.events import Envelope
from scifikpi_common.messaging import Delivery
from scifikpi_common.migrations import alembic_config, upgrade
from scifikpi_common.testing import create_database, drop_database
from sqlalchemy import text

SERVICE_DIR = Path(__file__).resolve().parents[2]
P = 1_000_000


async def _ok(factory) -> None:
    async with factory() as uow:
        report = await handlers.check_invariants(uow)
    assert report.ok, report.problems


async def _batch(factory, events) -> dict[str, Posting]:
    async with factory() as uow:
        created = await handlers.credit_mining_batch(uow, events)
        await uow.commit()
    return created


async def _outbox_payloads(engine, event_type: str) -> list[dict]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT payload FROM ledger.outbox WHERE event_type = :t ORDER BY id"),
            {"t": event_type},
        )
        return [r.payload["payload"] for r in rows]


async def test_batch_skips_redelivered_and_repeated_ids(engine, factory) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    first = mined(a, 1 * P)
    await deliver(factory, first)  # already posted before the batch
    e2, e3, e4 = mined(a, 2 * P), mined(b, 3 * P), mined(a, 4 * P)
    created = await _batch(factory, [first, e2, e2, e3, e4, first])
    assert sorted(created) == sorted(mining_transfer_id(e.session_id) for e in (e2, e3, e4))
    credited = await _outbox_payloads(engine, "PointsCredited")
    assert len(credited) == 4  # first (single path) + e2, e3, e4 once each
    by_transfer = {p["transfer_id"]: p for p in credited}
    # available right after each credit, in transfer id order per user
    after_a = sorted((mining_transfer_id(e.session_id), e.points_micro) for e in (e2, e4))
    running = 1 * P
    for tid, amount in after_a:
        running += amount
        assert by_transfer[tid]["available_micro"] == running
    assert by_transfer[mining_transfer_id(e3.session_id)]["available_micro"] == 3 * P
    async with factory() as uow:
        pa = await AccountRepository(uow.session).balances(AccountKind.user_points, a)
        pb = await AccountRepository(uow.session).balances(AccountKind.user_points, b)
        issuance = await AccountRepository(uow.session).balances(AccountKind.mining_issuance, None)
    assert (pa.available, pb.available, issuance.posted) == (7 * P, 3 * P, -10 * P)
    before = await snapshot(engine)
    for _ in range(5):  # the same batch redelivered: nothing changes, nothing is published
        assert await _batch(factory, [e4, e3, e2, first]) == {}
    assert await snapshot(engine) == before
    await _ok(factory)


async def test_batch_consumer_claims_the_inbox_and_commits_once(engine, factory) -> None:
    user = uuid.uuid4()
    events = [mined(user, P) for _ in range(30)]
    envelopes = [Envelope.wrap(e, producer="mining") for e in events]
    deliveries = [
        Delivery(topic=e.TOPIC, body=env.to_bytes(), key=env.key.encode())
        for e, env in zip(events, envelopes, strict=True)
    ]
    # the same message twice in the poll, and one fact again under a new event id
    again = Envelope.wrap(events[0], producer="mining")
    poll = [*deliveries, deliveries[3], Delivery(topic=events[0].TOPIC, body=again.to_bytes())]
    outcomes = await consumers.process_batch(poll, factory, None)
    assert outcomes == [["handled"]] * 30 + [["duplicate"], ["handled"]]
    async with engine.connect() as conn:
        xmins = (
            (
                await conn.execute(
                    text(
                        "SELECT count(DISTINCT xmin::text) FROM ledger.transfers"
                        " UNION ALL SELECT count(*) FROM ledger.inbox"
                    )
                )
            )
            .scalars()
            .all()
        )
    assert xmins == [1, 31]  # 30 transfers from one transaction; 31 distinct event ids claimed
    assert (await outbox_types(engine)).count("PointsCredited") == 30
    before = await snapshot(engine)
    for _ in range(5):
        assert await consumers.process_batch(poll, factory, None) == [["duplicate"]] * 32
    assert await snapshot(engine) == before
    async with factory() as uow:
        points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
    assert points.available == 30 * P
    await _ok(factory)


async def test_batches_singles_and_holds_racing_keep_every_invariant(
    engine, factory, settings: LedgerSettings
) -> None:
    users = [uuid.uuid4() for _ in range(12)]
    pool = [mined(random.choice(users), random.randint(1, 3) * P) for _ in range(400)]
    rng = random.Random(7)

    async def batcher(i: int) -> None:
        # overlapping batches in opposite orders: the same ids and users, fought over
        for _ in range(6):
            chunk = rng.sample(pool, 80)
            if i % 2:
                chunk.reverse()
            await _batch(factory, chunk)

    async def single() -> None:
        for event in rng.sample(pool, 60):
            async with factory() as uow:
                await handlers.credit_mining(uow, event)
                await uow.commit()

    async def holder() -> None:
        for _ in range(30):
            await deliver(factory, requested(rng.choice(users), 2 * P))

    await asyncio.gather(*(batcher(i) for i in range(4)), single(), single(), holder(), holder())
    for event in pool:  # whatever was not reached yet
        await _batch(factory, [event])
    await _ok(factory)
    expected: dict[uuid.UUID, int] = defaultdict(int)
    for event in {e.session_id: e for e in pool}.values():
        expected[event.user_id] += event.points_micro
    async with factory() as uow:
        for user in users:
            points = await AccountRepository(uow.session).balances(AccountKind.user_points, user)
            assert points.posted == expected[user]
            assert points.available >= 0
        issuance = await AccountRepository(uow.session).balances(AccountKind.mining_issuance, None)
    assert issuance.posted == -sum(expected.values())
    credited = Counter(p["transfer_id"] for p in await _outbox_payloads(engine, "PointsCredited"))
    assert len(credited) == len(pool) and set(credited.values()) == {1}
    async with engine.connect() as conn:
        slots = (await conn.execute(text("SELECT count(*) FROM ledger.account_slots"))).scalar_one()
    assert slots > 1  # the issuance account's movements are spread over slots


async def test_single_postings_spread_system_accounts_over_slots(engine, factory) -> None:
    user = uuid.uuid4()
    await asyncio.gather(*(deliver(factory, mined(user, P)) for _ in range(64)))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT a.kind, count(*) AS n, sum(s.posted_debits) AS pd"
                    " FROM ledger.account_slots s JOIN ledger.accounts a ON a.id = s.account_id"
                    " GROUP BY a.kind"
                )
            )
        ).all()
    assert [(r.kind, int(r.pd)) for r in rows] == [("mining_issuance", 64 * P)]
    assert rows[0].n > 8
    await _ok(factory)


async def test_refund_of_a_deposit_publishes_money_debited(engine, factory) -> None:
    user = uuid.uuid4()
    first, second = paid(user, 2500), paid(user, 1000)
    accel = paid(user, 500, purpose="acceleration")
    for event in (first, second, accel):
        await deliver(factory, event)
    await deliver(factory, refunded(first))
    await deliver(factory, refunded(first))  # the same fact again: nothing more
    await deliver(factory, refunded(accel))  # revenue reversed, user money untouched
    debited = await _outbox_payloads(engine, "MoneyDebited")
    assert len(debited) == 1
    assert debited[0]["payment_id"] == str(first.payment_id)
    assert debited[0]["amount_usd_minor"] == 2500
    assert debited[0]["total_deposits_usd_minor"] == 1000
    assert debited[0]["reason"] == "test"
    assert debited[0]["transfer_id"] == f"refund:{first.payment_id}"
    async with engine.connect() as conn:
        same_tx = (
            await conn.execute(
                text(
                    "SELECT (SELECT xmin::text FROM ledger.transfers WHERE id = :t)"
                    " = (SELECT xmin::text FROM ledger.outbox WHERE event_type = 'MoneyDebited')"
                ),
                {"t": f"refund:{first.payment_id}"},
            )
        ).scalar_one()
    assert same_tx
    await _ok(factory)


async def test_refund_booked_against_shortfall_publishes_no_money_debited(engine, factory) -> None:
    user = uuid.uuid4()
    deposit = paid(user, 1000)
    await deliver(factory, deposit)
    async with factory() as uow:
        spent = await PostingRepository(uow.session).post_transfer(
            transfer_id=f"refund:{uuid.uuid4()}",
            debit=Account(AccountKind.user_money, user),
            credit=Account(AccountKind.clearing_stripe),
            amount=600,
            kind=TransferKind.refund,
            user_id=user,
        )
        assert spent.created and spent.available == 400
        await uow.commit()
    await deliver(factory, refunded(deposit))
    assert await _outbox_payloads(engine, "MoneyDebited") == []
    await _ok(factory)


async def test_migration_0002_down_folds_slots_back_and_up_again(
    postgres_server_url: str,
) -> None:
    name = f"ledger_mig2_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_server_url, name)
    try:
        await asyncio.to_thread(upgrade, SERVICE_DIR, url)
        engine = create_engine(url, schema=SCHEMA, application_name="ledger.mig2", pool_size=8)
        factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
        try:
            user = uuid.uuid4()
            await asyncio.gather(*(deliver(factory, mined(user, P)) for _ in range(20)))
            await _batch(factory, [mined(user, P) for _ in range(20)])
            await deliver(factory, requested(user, 5 * P))
        finally:
            await engine.dispose()
        cfg = alembic_config(SERVICE_DIR, url)
        await asyncio.to_thread(command.downgrade, cfg, "0001")
        engine = create_engine(url, schema=SCHEMA, application_name="ledger.mig2", pool_size=2)
        try:
            async with engine.connect() as conn:
                rows = {
                    r.kind: (r.posted_debits, r.posted_credits, r.pending_debits, r.pending_credits)
                    for r in await conn.execute(text("SELECT * FROM ledger.accounts"))
                }
                gone = (
                    await conn.execute(text("SELECT to_regclass('ledger.account_slots')"))
                ).scalar_one()
        finally:
            await engine.dispose()
        assert gone is None
        assert rows["mining_issuance"] == (40 * P, 0, 0, 0)
        assert rows["nft_sales"] == (0, 0, 0, 5 * P)
        assert rows["user_points"] == (0, 40 * P, 5 * P, 0)
        await asyncio.to_thread(command.upgrade, cfg, "head")
    finally:
        await drop_database(postgres_server_url, name)
