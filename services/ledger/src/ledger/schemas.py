"""Response bodies of the ledger API. Points are decimal strings ("12.500000"); money is
`{amount_minor, currency}` in USD; no floats."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ledger.domain import Asset, TransferKind


class PointsOut(BaseModel):
    available: str = Field(examples=["12.500000"], description="posted − reserved")
    reserved: str = Field(examples=["1.000000"], description="held by pending purchases")
    total: str = Field(examples=["13.500000"], description="available + reserved")


class MoneyOut(BaseModel):
    amount_minor: int = Field(ge=0, examples=[1000])
    currency: Literal["USD"] = "USD"


class MiningPowerOut(BaseModel):
    rate_per_hour: str = Field(examples=["2.000000"], description="points per hour")
    rate_micro_per_hour: int = Field(ge=0, examples=[2_000_000])


class BalanceOut(BaseModel):
    points: PointsOut
    money: MoneyOut
    mining_power: MiningPowerOut


class HistoryItem(BaseModel):
    id: str = Field(examples=["mining:0190f0c4-..."], description="The transfer id.")
    kind: TransferKind
    phase: Literal["single", "pending", "post", "void", "expire"]
    asset: Asset
    direction: Literal["in", "out", "external"] = Field(
        description="`in`: credited to you; `out`: debited from you (or held, for `nft_hold`); "
        "`external`: a payment of yours booked outside your accounts (acceleration)."
    )
    points: str | None = Field(default=None, description="For asset=points.")
    money: MoneyOut | None = Field(default=None, description="For asset=money.")
    reference: dict[str, Any]
    created_at: datetime


class HistoryPage(BaseModel):
    items: list[HistoryItem]
    next_cursor: str | None = None
