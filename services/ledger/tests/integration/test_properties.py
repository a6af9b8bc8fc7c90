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
from ledger import handlers
from ledger.consumers import consumers
from ledger.domain import AccountKind, Posting, TransferKind
from ledger.models import SCHEMA, make_outbox
from ledger.repository import AccountRepository, PostingRepository
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


class _Model:
    """The ledger as plain Python, next to the real one: each op is run (once, or twice when
    `twice`) against the service and applied to the model."""

    def __init__(self, factory: UnitOfWorkFactory, twice: bool) -> None:
        self.factory = factory
        self.twice = twice
        self.times = 2 if twice else 1
        self.users = [uuid.uuid4() for _ in range(USERS)]
        self.holds: list[tuple[int, uuid.UUID, int, bool]] = []  # user, purchase, price, expired
        self.payments: list[tuple[int, object]] = []
        self.resolved: set[uuid.UUID] = set()
        self.refunded_ids: set[int] = set()
        self.available: dict[int, int] = defaultdict(int)
        self.reserved: dict[int, int] = defaultdict(int)
        self.money: dict[int, int] = defaultdict(int)
        self.mined_before: list[MiningCompleted] = []

    async def run(self, item: tuple) -> None:
        kind = item[0]
        if kind in ("post", "void", "expire"):
            if self.holds:
                await self.resolve(kind, item[1])
        elif kind == "refund":
            if self.payments:
                await self.refund(item[1])
        else:
            await getattr(self, kind)(*item[1:])

    async def deposit(self, u: int, amount: int) -> None:
        event = paid(self.users[u], amount)
        self.payments.append((u, event))
        for _ in range(self.times):
            await deliver(self.factory, event)
        self.money[u] += amount

    async def mine(self, u: int, amount: int) -> None:
        event = mined(self.users[u], amount)
        for _ in range(self.times):
            await deliver(self.factory, event)
        self.available[u] += amount
        self.mined_before.append(event)

    async def mine_batch(self, credits: list[tuple[int, int]], old: int, racer: int) -> None:
        events = [mined(self.users[u], amount) for u, amount in credits]
        envelopes = [Envelope.wrap(e, producer="mining") for e in events]
        poll = [
            Delivery(topic=e.TOPIC, body=env.to_bytes())
            for e, env in zip(events, envelopes, strict=True)
        ]
        if self.twice:
            poll += poll[:2]  # the same messages again in the poll
        if self.mined_before:  # a fact already credited, under a new event id
            again = self.mined_before[old % len(self.mined_before)]
            poll.append(
                Delivery(topic=again.TOPIC, body=Envelope.wrap(again, producer="m").to_bytes())
            )
        single = mined(self.users[racer], 1_000)
        await asyncio.gather(
            consumers.process_batch(poll, self.factory, None), deliver(self.factory, single)
        )
        for (u, amount), _ in zip(credits, events, strict=True):
            self.available[u] += amount
        self.available[racer] += 1_000
        self.mined_before.extend([*events, single])

    async def hold(self, u: int, price: int, expired: bool) -> None:
        purchase = uuid.uuid4()
        for _ in range(self.times):
            posting = await _hold(self.factory, self.users[u], purchase, price, expired)
        if posting.status in ("created", "duplicate"):
            assert self.available[u] >= price
            self.holds.append((u, purchase, price, expired))
            self.available[u] -= price
            self.reserved[u] += price
        else:
            assert posting.status == "insufficient_funds"
            assert self.available[u] < price

    async def resolve(self, kind: str, pick: int) -> None:
        u, purchase, price, expired = self.holds[pick % len(self.holds)]
        if kind == "post":
            event = minted(self.users[u], purchase)
            runs = [deliver(self.factory, event) for _ in range(self.times)]
        elif kind == "void":
            event = failed(self.users[u], purchase)
            runs = [deliver(self.factory, event) for _ in range(self.times)]
        else:
            runs = [_expire(self.factory, purchase) for _ in range(self.times)]
        await asyncio.gather(*runs)  # duplicates race each other
        applies = purchase not in self.resolved and (
            (kind == "post" and not expired) or kind == "void" or (kind == "expire" and expired)
        )
        if applies:
            self.resolved.add(purchase)
            self.reserved[u] -= price
            if kind != "post":
                self.available[u] += price

    async def refund(self, pick: int) -> None:
        index = pick % len(self.payments)
        u, event = self.payments[index]
        for _ in range(self.times):
            await deliver(self.factory, refunded(event))
        if index not in self.refunded_ids:
            self.refunded_ids.add(index)
            self.money[u] -= event.amount_minor

    async def verify(self) -> None:
        async with self.factory() as uow:
            report = await handlers.check_invariants(uow)
        assert report.ok, report.problems
        async with self.factory() as uow:
            accounts = AccountRepository(uow.session)
            for i, user in enumerate(self.users):
                points = await accounts.balances(AccountKind.user_points, user)
                cash = await accounts.balances(AccountKind.user_money, user)
                assert (points.available, points.pending_debits) == (
                    self.available[i],
                    self.reserved[i],
                )
                assert cash.posted == self.money[i]
                assert points.available >= 0 and cash.available >= 0


async def _scenario(database_url: str, ops: list[tuple], twice: bool) -> None:
    await truncate_schema(database_url, SCHEMA)
    engine = create_engine(database_url, schema=SCHEMA, application_name="ledger.prop", pool_size=5)
    model = _Model(UnitOfWorkFactory(create_sessionmaker(engine), make_outbox()), twice)
    try:
        for item in ops:
            await model.run(item)
        await model.verify()
    finally:
        await engine.dispose()


async def _hold(factory, user, purchase, price, expired) -> Posting:
    async with factory() as uow:
        s = uow.session
        sales = await AccountRepository(s).account_id(AccountKind.nft_sales)
        points = await AccountRepository(s).account_id(AccountKind.user_points, user)
        ttl = timedelta(microseconds=1) if expired else timedelta(hours=1)
        posting = await PostingRepository(s).post_transfer(
            transfer_id=f"nft-hold:{purchase}",
            debit=points,
            credit=sales,
            amount=price,
            kind=TransferKind.nft_hold,
            user_id=user,
            hold_ttl=ttl,
        )
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
