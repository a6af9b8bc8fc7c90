"""Response bodies of the ledger API, built from the use cases' domain values (`of()`). Points
are decimal strings ("12.500000"); money is `{amount_minor, currency}` in USD; no floats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from scifikpi_common.points import format_points

from ledger.domain import (
    Asset,
    Balances,
    History,
    HistoryEntry,
    TransferKind,
    UserBalance,
)

PhaseName = Literal["single", "pending", "post", "void", "expire"]  # `domain.Phase`'s values
DirectionName = Literal["in", "out", "external"]  # `domain.Direction`'s values


class PointsOut(BaseModel):
    available: str = Field(examples=["12.500000"], description="posted − reserved")
    reserved: str = Field(examples=["1.000000"], description="held by pending purchases")
    total: str = Field(examples=["13.500000"], description="available + reserved")

    @classmethod
    def of(cls, points: Balances) -> PointsOut:
        return cls(
            available=format_points(points.available),
            reserved=format_points(points.pending_debits),
            total=format_points(points.posted),
        )


class MoneyOut(BaseModel):
    amount_minor: int = Field(ge=0, examples=[1000])
    currency: Literal["USD"] = "USD"


class MiningPowerOut(BaseModel):
    rate_per_hour: str = Field(examples=["2.000000"], description="points per hour")
    rate_micro_per_hour: int = Field(ge=0, examples=[2_000_000])

    @classmethod
    def of(cls, rate_micro_per_hour: int) -> MiningPowerOut:
        return cls(
            rate_per_hour=format_points(rate_micro_per_hour),
            rate_micro_per_hour=rate_micro_per_hour,
        )


class BalanceOut(BaseModel):
    points: PointsOut
    money: MoneyOut
    mining_power: MiningPowerOut

    @classmethod
    def of(cls, balance: UserBalance) -> BalanceOut:
        return cls(
            points=PointsOut.of(balance.points),
            money=MoneyOut(amount_minor=balance.money.posted),
            mining_power=MiningPowerOut.of(balance.mining_rate_micro_per_hour),
        )


class HistoryItem(BaseModel):
    id: str = Field(examples=["mining:0190f0c4-..."], description="The transfer id.")
    kind: TransferKind
    phase: PhaseName
    asset: Asset
    direction: DirectionName = Field(
        description="`in`: credited to you; `out`: debited from you (or held, for `nft_hold`); "
        "`external`: a payment of yours booked outside your accounts (acceleration)."
    )
    points: str | None = Field(default=None, description="For asset=points.")
    money: MoneyOut | None = Field(default=None, description="For asset=money.")
    reference: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryItem:
        return cls(
            id=entry.id,
            kind=entry.kind,
            phase=entry.phase.value,
            asset=entry.asset,
            direction=entry.direction.value,
            reference=entry.reference,
            created_at=entry.created_at,
            points=format_points(entry.amount) if entry.asset == Asset.points else None,
            money=MoneyOut(amount_minor=entry.amount) if entry.asset == Asset.money else None,
        )


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None = None

    @classmethod
    def of(cls, history: History) -> HistoryPage:
        return cls(
            items=[HistoryItem.of(e) for e in history.items], next_cursor=history.next_cursor
        )
