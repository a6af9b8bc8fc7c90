"""`user_balances` (one statement, by the unique index) agrees with the `account_balances` view
it replaced on the /balance path."""

from __future__ import annotations

import uuid

from _ledger_helpers import deliver, mined, paid, requested
from ledger.domain import AccountKind, Balances
from ledger.repository import AccountRepository


async def test_user_balances_equal_the_views_for_both_accounts(factory) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    await deliver(factory, paid(user, 2599))
    await deliver(factory, mined(user, 12_500_000))
    await deliver(factory, requested(user, 1_000_001, uuid.uuid4()))
    await deliver(factory, paid(other, 100))
    async with factory.reading() as uow:
        accounts = AccountRepository(uow.session)
        got = await accounts.user_balances(user)
        for kind in (AccountKind.user_points, AccountKind.user_money):
            assert got[kind] == await accounts.balances(kind, user)
        assert got[AccountKind.user_points].pending_debits == 1_000_001
        assert got[AccountKind.user_money] != Balances()


async def test_a_user_without_accounts_reads_zero(factory) -> None:
    async with factory.reading() as uow:
        got = await AccountRepository(uow.session).user_balances(uuid.uuid4())
    assert got == {AccountKind.user_points: Balances(), AccountKind.user_money: Balances()}
