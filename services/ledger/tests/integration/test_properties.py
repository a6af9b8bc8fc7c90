"""Hypothesis: after any random sequence of ledger operations (each possibly delivered twice,
some run concurrently), the invariants hold and the balances equal a plain Python model."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import timedelta

from _ledger_helpers import deliver, failed, mined, minted, paid, refunded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger import handlers, postings
from ledger.check import check
from ledger.consumers import consumers
from ledger.domain import AccountKind, TransferKind
from ledger.models import SCHEMA, make_outbox
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.events import Envelope, MiningCompleted
from scifikpi_common.messaging import Delivery
from scifikpi_common.testing import truncate_schema

USERS = 3
user_ids = st.integers(0, USERS - 1)
op = st.one_of(
    st.tuples(st.just("deposit"), user_ids, st.integers(1, 50_000)),
    st.tuples(st.just("mine"), user_ids, st.integers(1, 5_000_000)),
    # a consumed batch of credits (the batch consumer path), some repeated in the poll, some
    # credited before, racing a single credit
    st.tuples(
        st.just("mine_batch"),
        st.lists(st.tuples(user_ids, st.integers(1, 5_000_000)), min_size=1, max_size=6),
        st.integers(0, 20),
        user_ids,
    ),
    st.tuples(st.just("hold"), user_ids, st.integers(1, 4_000_000), st.booleans()),
    st.tuples(st.just("post"), st.integers(0, 20)),
    st.tuples(st.just("void"), st.integers(0, 20)),
    st.tuples(st.just("expire"), st.integers(0, 20)),
    st.tuples(st.just("refund"), st.integers(0, 20)),
)


async def _scenario(database_url: str, ops: list[tuple], twice: bool) -> None:
    await truncate_schema(database_url, SCHEMA)
    engine = create_engine(database_url, schema=SCHEMA, application_name="ledger.prop", pool_size=5)
    factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    users = [uuid.uuid4() for _ in range(USERS)]
    holds: list[tuple[int, uuid.UUID, int, bool]] = []  # user, purchase, price, expired
    payments: list[tuple[int, object]] = []
    resolved: set[uuid.UUID] = set()
    refunded_ids: set[int] = set()
    available: dict[int, int] = defaultdict(int)
    reserved: dict[int, int] = defaultdict(int)
    money: dict[int, int] = defaultdict(int)
    mined_before: list[MiningCompleted] = []
    try:
        for item in ops:
            kind = item[0]
            times = 2 if twice else 1
            if kind == "deposit":
                _, u, amount = item
                event = paid(users[u], amount)
                payments.append((u, event))
                for _ in range(times):
                    await deliver(factory, event)
                money[u] += amount
            elif kind == "mine":
                _, u, amount = item
                event = mined(users[u], amount)
                for _ in range(times):
                    await deliver(factory, event)
                available[u] += amount
                mined_before.append(event)
            elif kind == "mine_batch":
                _, credits, old, racer = item
                events = [mined(users[u], amount) for u, amount in credits]
                envelopes = [Envelope.wrap(e, producer="mining") for e in events]
                poll = [
                    Delivery(topic=e.TOPIC, body=env.to_bytes())
                    for e, env in zip(events, envelopes, strict=True)
                ]
                if twice:
                    poll += poll[:2]  # the same messages again in the poll
                if mined_before:  # a fact already credited, under a new event id
                    again = mined_before[old % len(mined_before)]
                    poll.append(
                        Delivery(
                            topic=again.TOPIC, body=Envelope.wrap(again, producer="m").to_bytes()
                        )
                    )
                single = mined(users[racer], 1_000)
                await asyncio.gather(
                    consumers.process_batch(poll, factory, None), deliver(factory, single)
                )
                for (u, amount), _ in zip(credits, events, strict=True):
                    available[u] += amount
                available[racer] += 1_000
                mined_before.extend([*events, single])
            elif kind == "hold":
                _, u, price, expired = item
                purchase = uuid.uuid4()
                for _ in range(times):
                    posting = await _hold(factory, users[u], purchase, price, expired)
                if posting.status in ("created", "duplicate"):
                    assert available[u] >= price
                    holds.append((u, purchase, price, expired))
                    available[u] -= price
                    reserved[u] += price
                else:
                    assert posting.status == "insufficient_funds"
                    assert available[u] < price
            elif kind in ("post", "void", "expire") and holds:
                u, purchase, price, expired = holds[item[1] % len(holds)]
                if kind == "post":
                    event = minted(users[u], purchase)
                    runs = [deliver(factory, event) for _ in range(times)]
                elif kind == "void":
                    event = failed(users[u], purchase)
                    runs = [deliver(factory, event) for _ in range(times)]
                else:
                    runs = [_expire(factory, purchase) for _ in range(times)]
                await asyncio.gather(*runs)  # duplicates race each other
                applies = purchase not in resolved and (
                    (kind == "post" and not expired)
                    or kind == "void"
                    or (kind == "expire" and expired)
                )
                if applies:
                    resolved.add(purchase)
                    reserved[u] -= price
                    if kind != "post":
                        available[u] += price
            elif kind == "refund" and payments:
                index = item[1] % len(payments)
                u, event = payments[index]
                for _ in range(times):
                    await deliver(factory, refunded(event))
                if index not in refunded_ids:
                    refunded_ids.add(index)
                    money[u] -= event.amount_minor
        async with factory() as uow:
            report = await check(uow.session)
        assert report.ok, report.problems
        async with factory() as uow:
            for i, user in enumerate(users):
                points = await postings.balances(uow.session, AccountKind.user_points, user)
                cash = await postings.balances(uow.session, AccountKind.user_money, user)
                assert (points.available, points.pending_debits) == (available[i], reserved[i])
                assert cash.posted == money[i]
                assert points.available >= 0 and cash.available >= 0
    finally:
        await engine.dispose()


async def _hold(factory, user, purchase, price, expired) -> postings.Posting:
    async with factory() as uow:
        s = uow.session
        sales = await postings.account_id(s, AccountKind.nft_sales)
        points = await postings.account_id(s, AccountKind.user_points, user)
        ttl = timedelta(microseconds=1) if expired else timedelta(hours=1)
        posting = await postings.post_transfer(
            s, transfer_id=f"nft-hold:{purchase}", debit=points, credit=sales, amount=price,
            kind=TransferKind.nft_hold, user_id=user, hold_ttl=ttl,
        )  # fmt: skip
        await uow.commit()
    return posting


async def _expire(factory, purchase) -> None:
    async with factory() as uow:
        await handlers.expire(uow, f"nft-hold:{purchase}")
        await uow.commit()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(op, max_size=25), twice=st.booleans())
def test_invariants_hold_after_any_sequence(migrated_database_url: str, ops, twice) -> None:
    asyncio.run(_scenario(migrated_database_url, ops, twice))
