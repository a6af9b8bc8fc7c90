"""Read-only use cases: the balance, the history pages and the invariant check."""

from __future__ import annotations

from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.pagination import decode_cursor, encode_cursor

from ledger.domain import AccountKind, CheckReport, History, TransferKind, UserBalance
from ledger.repository import AccountRepository, InvariantRepository
from ledger.settings import LedgerSettings


async def balance(uow: UnitOfWork, user_id: UUID, settings: LedgerSettings) -> UserBalance:
    """The user's points and money, and the mining rate their deposits give."""
    found = await AccountRepository(uow.session).user_balances(user_id)
    points, money = found[AccountKind.user_points], found[AccountKind.user_money]
    return UserBalance(points, money, settings.mining_rate_micro_per_hour(money.posted))


async def history(
    uow: UnitOfWork,
    user_id: UUID,
    *,
    kind: TransferKind | None,
    cursor: str | None,
    limit: int,
) -> History:
    """The user's operations, newest first, keyset-paged on (created_at, id)."""
    after = decode_cursor(cursor, str) if cursor else None
    rows = await AccountRepository(uow.session).history(
        user_id, kind=kind, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return History(items=rows, next_cursor=next_cursor)


async def check_invariants(uow: UnitOfWork) -> CheckReport:
    """The ledger invariants, read in one REPEATABLE READ READ ONLY snapshot:

    1. the sum of all balances is zero, per asset, for posted and for pending columns;
    2. every account's stored columns equal the recomputation from the journal;
    3. no user account is below zero (available = posted − pending debits), no balance column is
       negative, and no user account has slots (it is guarded on its row alone);
    4. no hold is resolved twice; every transfer moves one asset.
    """
    check = InvariantRepository(uow.session)
    await check.snapshot()
    report = CheckReport(accounts=await check.count_accounts())
    report.transfers = await check.count_transfers()
    report.problems += [p for t in await check.asset_totals() if (p := t.problem())]
    report.problems += [p for a in await check.audits() if (p := a.problem())]
    report.problems += [o.problem() for o in await check.overdrawn_user_accounts()]
    report.problems += [
        {"invariant": "columns_non_negative", "account_id": account_id, "kind": kind}
        for account_id, kind in await check.negative_columns()
    ]
    report.problems += [
        {"invariant": "no_user_slots", "account_id": account_id}
        for account_id in await check.user_accounts_with_slots()
    ]
    report.problems += [
        {"invariant": "hold_resolved_once", "hold_id": hold, "resolutions": n}
        for hold, n in await check.holds_resolved_twice()
    ]
    report.problems += [
        {"invariant": "one_asset_per_transfer", "transfer_id": transfer_id}
        for transfer_id in await check.mixed_asset_transfers()
    ]
    return report
