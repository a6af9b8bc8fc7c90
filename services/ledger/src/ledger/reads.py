"""Read use cases: the balance and the user's history (keyset-paged, newest first)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ledger import postings
from ledger.domain import (
    AccountKind,
    Asset,
    TransferKind,
    decode_cursor,
    encode_cursor,
    format_points,
)
from ledger.schemas import BalanceOut, HistoryItem, HistoryPage, MiningPowerOut, MoneyOut, PointsOut
from ledger.settings import LedgerSettings


async def balance(session: AsyncSession, user_id: UUID, settings: LedgerSettings) -> BalanceOut:
    points = await postings.balances(session, AccountKind.user_points, user_id)
    money = await postings.balances(session, AccountKind.user_money, user_id)
    rate = settings.mining_rate_micro_per_hour(money.posted)
    return BalanceOut(
        points=PointsOut(
            available=format_points(points.available),
            reserved=format_points(points.pending_debits),
            total=format_points(points.posted),
        ),
        money=MoneyOut(amount_minor=money.posted),
        mining_power=MiningPowerOut(rate_per_hour=format_points(rate), rate_micro_per_hour=rate),
    )


_HISTORY = text(
    """
    SELECT id, kind, phase, asset, direction, amount, reference, created_at
      FROM history
     WHERE user_id = :u
       AND (CAST(:kind AS text) IS NULL OR kind = CAST(:kind AS text))
       AND (CAST(:at AS timestamptz) IS NULL
            OR (created_at, id) < (CAST(:at AS timestamptz), CAST(:id AS text)))
     ORDER BY created_at DESC, id DESC
     LIMIT :n
    """
)


async def history(
    session: AsyncSession,
    user_id: UUID,
    *,
    kind: TransferKind | None,
    cursor: str | None,
    limit: int,
) -> HistoryPage:
    after = decode_cursor(cursor) if cursor else None
    params: dict[str, object] = {
        "u": user_id,
        "n": limit + 1,
        "kind": kind.value if kind is not None else None,
        "at": after[0] if after else None,
        "id": after[1] if after else None,
    }
    rows = (await session.execute(_HISTORY, params)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        HistoryItem(
            id=r.id,
            kind=TransferKind(r.kind),
            phase=r.phase,
            asset=Asset(r.asset),
            direction=r.direction,
            reference=r.reference,
            created_at=r.created_at,
            points=format_points(r.amount) if r.asset == Asset.points else None,
            money=MoneyOut(amount_minor=r.amount) if r.asset == Asset.money else None,
        )  # fmt: skip
        for r in rows
    ]
    next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return HistoryPage(items=items, next_cursor=next_cursor)
