"""Pure ledger rules: accounts and their kinds, transfer ids and kinds, postings and their
outcomes, balances, the user's history, the invariant report, unit formatting, errors.

No framework, database or broker imports (import-linter contract `ledger-domain-pure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


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


RESOLUTIONS = frozenset({Phase.post, Phase.void, Phase.expire})


class Direction(StrEnum):
    """A history entry seen from the user: credited, debited (or held), or booked elsewhere."""

    inbound = "in"
    outbound = "out"
    external = "external"


class PostingStatus(StrEnum):
    """The outcome of one posting, as the posting functions (migration 0002) answer it."""

    created = "created"
    duplicate = "duplicate"  # the transfer id is already in the journal: nothing changed
    insufficient_funds = "insufficient_funds"  # the guarded debit was refused
    not_found = "not_found"  # no such hold
    already_resolved = "already_resolved"  # another resolution of the hold won
    expired = "expired"  # a capture after the hold's expiry
    not_due = "not_due"  # an expiry before the hold's `expires_at`


# ------------------------------------------------------------------------------- transfer ids

HOLD_PREFIX = "nft-hold:"


def payment_transfer_id(payment_id: UUID) -> str:
    return f"payment:{payment_id}"


def refund_transfer_id(payment_id: UUID) -> str:
    return f"refund:{payment_id}"


def mining_transfer_id(session_id: UUID) -> str:
    return f"mining:{session_id}"


def hold_id(purchase_id: UUID) -> str:
    return f"{HOLD_PREFIX}{purchase_id}"


def post_id(purchase_id: UUID) -> str:
    return f"nft-post:{purchase_id}"


def void_id(purchase_id: UUID) -> str:
    return f"nft-void:{purchase_id}"


def expire_id(purchase_id: UUID) -> str:
    return f"nft-expire:{purchase_id}"


def purchase_of_hold(hold: str) -> UUID:
    """The purchase a hold id names: `nft-hold:<purchase_id>`."""
    return UUID(hold.removeprefix(HOLD_PREFIX))


# ------------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class Account:
    """An account named by kind (and user): resolved, and created on first use, in SQL."""

    kind: AccountKind
    user_id: UUID | None = None

    def __post_init__(self) -> None:
        if (self.kind in USER_KINDS) != (self.user_id is not None):
            need = "need" if self.kind in USER_KINDS else "take no"
            raise ValueError(f"{self.kind} accounts {need} user")

    @property
    def asset(self) -> Asset:
        return ASSET_OF[self.kind]


AccountRef = Account | int  # an account by kind (and user), or by its id


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


@dataclass(frozen=True, slots=True)
class UserBalance:
    """What `GET /balance` shows: the user's points and money, and the mining rate it gives."""

    points: Balances
    money: Balances
    mining_rate_micro_per_hour: int


# ------------------------------------------------------------------------------- postings


@dataclass(frozen=True, slots=True)
class Posting:
    status: PostingStatus
    transfer_id: str
    amount: int = 0
    created_at: datetime | None = None
    expires_at: datetime | None = None
    user_id: UUID | None = None
    resolved_by: str | None = None  # for already_resolved: the phase that won
    # the touched user account right after a created posting (None if no user account)
    posted: int | None = None
    available: int | None = None

    @property
    def created(self) -> bool:
        return self.status == PostingStatus.created


@dataclass(frozen=True, slots=True)
class Credit:
    """One credit of a batch: system account → the user's account."""

    transfer_id: str
    user_id: UUID
    amount: int
    reference: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BookedTransfer:
    """A transfer in the journal, as a reversal needs it."""

    debit_account_id: int
    credit_account_id: int
    amount: int
    to_user: bool  # the credited account is a user's


def check_amount(amount: int) -> None:
    if amount <= 0:
        raise ValueError("amount must be positive")


def check_resolution(phase: Phase) -> None:
    if phase not in RESOLUTIONS:
        raise ValueError(phase)


def check_credit_batch(
    credits: Sequence[Credit], *, system: AccountKind, user_kind: AccountKind
) -> None:
    """A credit batch moves one asset from a system account to user accounts, each amount > 0."""
    if (
        system in USER_KINDS
        or user_kind not in USER_KINDS
        or ASSET_OF[system] != ASSET_OF[user_kind]
    ):
        raise ValueError("a credit batch moves one asset from a system account to user accounts")
    for credit in credits:
        check_amount(credit.amount)


class OriginalNotBooked(Exception):
    """A refund arrived for a payment the ledger has not booked: retried, then dead-lettered."""


# ------------------------------------------------------------------------------- history


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One operation of the user (view `history`)."""

    id: str
    kind: TransferKind
    phase: Phase
    asset: Asset
    direction: Direction
    amount: int
    reference: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class History:
    """One page of the user's history, newest first; `next_cursor` when there is more."""

    items: list[HistoryEntry]
    next_cursor: str | None = None


# ------------------------------------------------------------------------------- invariants

Problem = dict[str, Any]  # one offender, as the report lists it
Columns = tuple[int, int, int, int]  # posted debits, posted credits, pending debits, credits


@dataclass(frozen=True, slots=True)
class AssetTotal:
    """The sum of all balances of one asset: zero when the books balance."""

    asset: str
    posted: int
    pending: int

    def problem(self) -> Problem | None:
        if self.posted == 0 and self.pending == 0:
            return None
        return {
            "invariant": "sum_zero",
            "asset": self.asset,
            "posted": self.posted,
            "pending": self.pending,
        }


@dataclass(frozen=True, slots=True)
class AccountAudit:
    """An account's stored columns next to their recomputation from the journal."""

    account_id: int
    kind: str
    user_id: UUID | None
    stored: Columns
    journal: Columns

    def problem(self) -> Problem | None:
        if self.stored == self.journal:
            return None
        return {
            "invariant": "balance_matches_journal",
            "account_id": self.account_id,
            "kind": self.kind,
            "user_id": str(self.user_id) if self.user_id else None,
            "stored": list(self.stored),
            "journal": list(self.journal),
        }


@dataclass(frozen=True, slots=True)
class Overdrawn:
    """A user account below zero (available = posted − pending debits)."""

    account_id: int
    kind: str
    user_id: UUID | None
    available: int

    def problem(self) -> Problem:
        return {
            "invariant": "no_negative_user_account",
            "account_id": self.account_id,
            "kind": self.kind,
            "user_id": str(self.user_id),
            "available": self.available,
        }


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    accounts: int = 0
    transfers: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "accounts": self.accounts,
            "transfers": self.transfers,
            "problems": self.problems,
        }
