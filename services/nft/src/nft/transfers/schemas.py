"""Request and response bodies of transfers (addresses shown user-friendly: the wallet
non-bounceable, the item bounceable; test-only flag off mainnet)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from nft.settings import NftSettings
from nft.ton.addresses import shown
from nft.transfers.domain import Transfer


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_address: StrictStr | None = Field(
        default=None,
        max_length=128,
        description="Optional; if sent it must be the account's verified wallet (any form).",
    )


class TransferOut(BaseModel):
    """A transfer to the verified wallet: `pending` until the new owner is confirmed on chain."""

    id: UUID
    status: Literal["pending", "completed", "failed"]
    nft_id: UUID
    to_address: str
    item_address: str
    message_hash: str | None = None
    failure_reason: str | None = None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None

    @classmethod
    def of(cls, t: Transfer, settings: NftSettings) -> TransferOut:
        testnet = settings.testnet_addresses
        return cls(
            id=t.id,
            status=t.status.value,
            nft_id=t.nft_id,
            to_address=shown(t.to_address, contract=False, testnet=testnet),
            item_address=shown(t.item_address, contract=True, testnet=testnet),
            message_hash=t.message_hash,
            failure_reason=t.failure_reason,
            created_at=t.created_at,
            updated_at=t.updated_at,
            completed_at=t.completed_at,
        )
