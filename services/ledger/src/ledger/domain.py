"""Pure ledger rules: account kinds, transfer ids, unit formatting, history cursors, errors.

No framework, database or broker imports (import-linter contract `ledger-domain-pure`).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from scifikpi_common.errors import ValidationFailed

MICRO = 1_000_000  # µP per point


class Asset(StrEnum):
    points = "points"  # micro-points
    money = "money"  # USD minor units


class AccountKind(StrEnum):
    user_points = "user_points"
    user_money = "user_money"
    mining_issuance = "mining_issuance"
    nft_sales = "nft_sales"
    acceleration_revenue = "acceleration_revenue"
    refund_shortfall = "refund_shortfall"
    clearing_stripe = "clearing_stripe"
    clearing_yoomoney = "clearing_yoomoney"


USER_KINDS = frozenset({AccountKind.user_points, AccountKind.user_money})
ASSET_OF: dict[AccountKind, Asset] = {
    AccountKind.user_points: Asset.points,
    AccountKind.mining_issuance: Asset.points,
    AccountKind.nft_sales: Asset.points,
    AccountKind.user_money: Asset.money,
    AccountKind.acceleration_revenue: Asset.money,
    AccountKind.refund_shortfall: Asset.money,
    AccountKind.clearing_stripe: Asset.money,
    AccountKind.clearing_yoomoney: Asset.money,
}


def clearing_kind(provider: str) -> AccountKind:
    return AccountKind(f"clearing_{provider}")


class TransferKind(StrEnum):
    """What a transfer is, as `GET /history?kind=` filters it."""

    deposit = "deposit"  # registration / top-up payment credited
    acceleration = "acceleration"  # acceleration payment booked to revenue
    refund = "refund"  # a payment reversed
    mining = "mining"  # a completed session's points
    nft_hold = "nft_hold"  # points reserved for a purchase
    nft_post = "nft_post"  # the reservation captured
    nft_void = "nft_void"  # the reservation released (purchase failed)
    nft_expire = "nft_expire"  # the reservation expired


class Phase(StrEnum):
    single = "single"
    pending = "pending"
    post = "post"
    void = "void"
    expire = "expire"


def payment_transfer_id(payment_id: UUID) -> str:
    return f"payment:{payment_id}"


def refund_transfer_id(payment_id: UUID) -> str:
    return f"refund:{payment_id}"


def mining_transfer_id(session_id: UUID) -> str:
    return f"mining:{session_id}"


def hold_id(purchase_id: UUID) -> str:
    return f"nft-hold:{purchase_id}"


def post_id(purchase_id: UUID) -> str:
    return f"nft-post:{purchase_id}"


def void_id(purchase_id: UUID) -> str:
    return f"nft-void:{purchase_id}"


def expire_id(purchase_id: UUID) -> str:
    return f"nft-expire:{purchase_id}"


def format_points(micro: int) -> str:
    """µP as a decimal string with six places: 12_500_000 -> "12.500000" (no floats)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


@dataclass(frozen=True, slots=True)
class Balances:
    """The four TigerBeetle-style columns of one account."""

    posted_debits: int = 0
    posted_credits: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    @property
    def posted(self) -> int:
        """Credit-normal posted balance (what a user account holds)."""
        return self.posted_credits - self.posted_debits

    @property
    def available(self) -> int:
        """posted − pending debits: what can still be spent or held."""
        return self.posted - self.pending_debits


class InvalidCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The page cursor is not valid"


def encode_cursor(created_at: datetime, transfer_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), transfer_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, transfer_id = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None or not isinstance(transfer_id, str) or not transfer_id:
            raise ValueError("bad cursor")
        return at, transfer_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not one this API returned.") from None
