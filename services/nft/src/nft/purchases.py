"""Purchase saga (HTTP side and ledger answers) and transfer requests: the use cases.

- `buy`: one transaction takes one unit of supply with a guarded UPDATE, records the purchase
  `pending` at today's price and queues `NftPurchaseRequested`; a sold-out attempt is recorded
  `failed` (`sold_out`) so its Idempotency-Key replays the same answer;
- `on_reserved` / `on_rejected`: the ledger's answers (`PointsReserved` wakes the chain engine);
- `fail` / `sweep_pending`: how any open purchase ends without an item (supply back, hold released);
- `request_transfer`: a `pending` transfer of a minted NFT to the account's verified wallet.

Nothing here commits: the route or the consumer wrapper owns the unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.nft import NftPurchaseFailed, NftPurchaseRequested
from scifikpi_common.ids import new_id
from scifikpi_common.logging import get_logger
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nft import purchases_repo as repo
from nft import repository as catalog_repo
from nft.domain import decode_cursor, encode_cursor
from nft.errors import (
    CatalogItemNotFound,
    CatalogItemRetired,
    IdempotencyKeyReused,
    NftAlreadyTransferred,
    NftNotFound,
    NftNotMinted,
    PurchaseNotFound,
    TransferInProgress,
    TransferNotFound,
    WalletNotVerified,
)
from nft.purchases_repo import MintedNft, Purchase, Transfer
from nft.ton.addresses import parse_user_address, raw

log = get_logger(__name__)

SOLD_OUT = "sold_out"
INSUFFICIENT_POINTS = "insufficient_points"
RESERVATION_TIMEOUT = "reservation_timeout"
RESERVATION_LATE = "reservation_late"


@dataclass(frozen=True, slots=True)
class BuyOutcome:
    purchase: Purchase
    created: bool  # False: the Idempotency-Key replayed an earlier answer

    @property
    def sold_out(self) -> bool:
        return self.purchase.status == "failed" and self.purchase.failure_reason == SOLD_OUT


# --------------------------------------------------------------------------- buying


async def buy(
    uow: UnitOfWork, *, user_id: UUID, catalog_item_id: UUID, key: str, now: datetime
) -> BuyOutcome:
    """Record a purchase for (user, key). Raises 404/409/422 problems; a sold-out attempt is
    returned (recorded `failed`), not raised, so the caller commits it before answering 409."""
    s = uow.session
    existing = await repo.by_key(s, user_id, key)
    if existing is not None:
        return _replay(existing, catalog_item_id)
    price = await repo.take_supply(s, catalog_item_id)
    if price is None:
        price = await _why_not_on_sale(s, catalog_item_id)
        status, reason = "failed", SOLD_OUT
    else:
        status, reason = "pending", None
    purchase_id = new_id()
    try:
        await repo.insert_purchase(
            s,
            {
                "id": purchase_id,
                "user_id": user_id,
                "catalog_item_id": catalog_item_id,
                "idempotency_key": key,
                "price_points_micro": price,
                "status": status,
                "failure_reason": reason,
                "created_at": now,
                "updated_at": now,
                "failed_at": now if status == "failed" else None,
            },
        )
    except IntegrityError as exc:
        if repo.IDEMPOTENCY_CONSTRAINT not in str(exc.orig):
            raise
        # A concurrent request with the same key won: undo our supply and answer its purchase.
        await uow.rollback()
        winner = await repo.by_key(s, user_id, key)
        if winner is None:  # pragma: no cover - the constraint says it exists
            raise
        return _replay(winner, catalog_item_id)
    if status == "pending":
        await uow.publish(
            NftPurchaseRequested(
                user_id=user_id,
                purchase_id=purchase_id,
                catalog_item_id=catalog_item_id,
                price_points_micro=price,
                requested_at=now,
            )
        )
    created = await repo.get_purchase(s, purchase_id)
    assert created is not None
    return BuyOutcome(created, created=True)


def _replay(existing: Purchase, catalog_item_id: UUID) -> BuyOutcome:
    if existing.catalog_item_id != catalog_item_id:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for another catalog item; use a new key."
        )
    return BuyOutcome(existing, created=False)


async def _why_not_on_sale(s: AsyncSession, item_id: UUID) -> int:
    """The guarded UPDATE sold nothing: 404 / 409 retired, or sold out (returns its price)."""
    item = await catalog_repo.get(s, item_id)
    if item is None:
        raise CatalogItemNotFound(f"Catalog item {item_id} does not exist.")
    if item.status != "active":
        raise CatalogItemRetired(f"Catalog item {item_id} is no longer sold.")
    return item.price_points_micro


# --------------------------------------------------------------------------- ledger answers


async def on_reserved(uow: UnitOfWork, purchase_id: UUID, *, now: datetime) -> None:
    """The price is held: pending → reserved and wake the chain engine. A purchase that already
    failed (e.g. timed out) gets a new `NftPurchaseFailed` so the ledger releases the late hold."""
    s = uow.session
    found = await repo.lock_purchase(s, purchase_id)
    if found is None:
        log.warning("points_reserved_unknown_purchase", purchase_id=str(purchase_id))
        return
    status, user_id, _item = found
    if status == "pending":
        await repo.set_reserved(s, purchase_id, now)
        await repo.notify_chain(s)
    elif status == "failed":
        log.info("points_reserved_after_failure", purchase_id=str(purchase_id))
        await uow.publish(
            NftPurchaseFailed(
                user_id=user_id, purchase_id=purchase_id, reason=RESERVATION_LATE, failed_at=now
            )
        )
    # reserved / completed: a repeat of a fact we already acted on


async def on_rejected(uow: UnitOfWork, purchase_id: UUID, *, now: datetime) -> None:
    """The ledger refused the hold: pending → failed (`insufficient_points`), supply back.
    No event: no hold exists to release."""
    found = await repo.lock_purchase(uow.session, purchase_id)
    if found is None:
        log.warning("reservation_rejected_unknown_purchase", purchase_id=str(purchase_id))
        return
    if found[0] != "pending":
        log.info("reservation_rejected_ignored", purchase_id=str(purchase_id), status=found[0])
        return
    await fail(uow, purchase_id, reason=INSUFFICIENT_POINTS, now=now, release_hold=False)


# --------------------------------------------------------------------------- ending without an item


async def fail(
    uow: UnitOfWork, purchase_id: UUID, *, reason: str, now: datetime, release_hold: bool
) -> bool:
    """Fail an open (pending/reserved) purchase: `failure_reason`, `failed_at`, its mint slot
    cleared, supply restored, and `NftPurchaseFailed` queued when `release_hold` (the ledger
    voids the hold). False, changing nothing, if the purchase is unknown or already final."""
    s = uow.session
    ended = await repo.set_failed(s, purchase_id, reason=reason, now=now)
    if ended is None:
        return False
    user_id, item_id = ended
    await repo.restore_supply(s, item_id)
    if release_hold:
        await uow.publish(
            NftPurchaseFailed(
                user_id=user_id, purchase_id=purchase_id, reason=reason, failed_at=now
            )
        )
    return True


async def sweep_pending(
    uow: UnitOfWork, *, older_than: datetime, now: datetime, limit: int = 500
) -> int:
    """Fail purchases still `pending` (the ledger never answered) last updated before
    `older_than` (`reservation_timeout`, hold released in case it comes late). Rows another
    replica is sweeping are skipped. Returns how many failed; the caller commits."""
    stale = await repo.lock_stale_pending(uow.session, older_than=older_than, limit=limit)
    failed = 0
    for purchase_id, _item in stale:
        if await fail(uow, purchase_id, reason=RESERVATION_TIMEOUT, now=now, release_hold=True):
            failed += 1
    return failed


# --------------------------------------------------------------------------- reads


async def get(s: AsyncSession, user_id: UUID, purchase_id: UUID) -> Purchase:
    purchase = await repo.get_purchase(s, purchase_id)
    if purchase is None or purchase.user_id != user_id:
        raise PurchaseNotFound(f"Purchase {purchase_id} does not exist.")
    return purchase


async def page(
    s: AsyncSession, user_id: UUID, *, cursor: str | None, limit: int
) -> tuple[list[Purchase], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.page_purchases(s, user_id, after=after, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return rows, encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None


async def mine(
    s: AsyncSession, user_id: UUID, *, cursor: str | None, limit: int
) -> tuple[list[MintedNft], str | None]:
    after = decode_cursor(cursor) if cursor else None
    rows = await repo.page_nfts(s, user_id, after=after, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    return rows, encode_cursor(rows[-1].minted_at, rows[-1].id) if more and rows else None


# --------------------------------------------------------------------------- transfers


async def request_transfer(
    uow: UnitOfWork, *, user_id: UUID, nft_id: UUID, to_address: str | None, now: datetime
) -> Transfer:
    """Queue a transfer of a minted NFT (in custody) to the account's verified wallet."""
    s = uow.session
    nft = await repo.lock_nft(s, nft_id)
    if nft is None:
        purchase = await repo.purchase_status(s, nft_id)
        if purchase is None or purchase[0] != user_id or purchase[1] == "failed":
            raise NftNotFound(f"NFT {nft_id} does not exist.")
        raise NftNotMinted("The NFT is still being minted; try again when the purchase completes.")
    owner, status = nft
    if owner != user_id:
        raise NftNotFound(f"NFT {nft_id} does not exist.")
    if status != "custody":
        raise NftAlreadyTransferred("The NFT has already been sent to a wallet.")
    if await repo.has_pending_transfer(s, nft_id):
        raise TransferInProgress("A transfer of this NFT is already in progress.")
    wanted = None if to_address is None else raw(parse_user_address(to_address))
    wallet = await repo.wallet_address(s, user_id)
    if wallet is None:
        raise WalletNotVerified("Bind and verify a TON wallet (TON Connect) first.")
    if wanted is not None and wanted != wallet:
        raise WalletNotVerified("NFTs can only be sent to the account's verified wallet.")
    transfer_id = new_id()
    try:
        await repo.insert_transfer(
            s,
            {
                "id": transfer_id,
                "nft_id": nft_id,
                "user_id": user_id,
                "to_address": wallet,
                "status": "pending",
                "created_at": now,
                "updated_at": now,
            },
        )
    except IntegrityError as exc:
        if repo.IN_FLIGHT_INDEX in str(exc.orig):
            raise TransferInProgress("A transfer of this NFT is already in progress.") from None
        raise
    await repo.notify_chain(s)
    transfer = await repo.get_transfer(s, transfer_id)
    assert transfer is not None
    return transfer


async def get_transfer(s: AsyncSession, user_id: UUID, transfer_id: UUID) -> Transfer:
    transfer = await repo.get_transfer(s, transfer_id)
    if transfer is None or transfer.user_id != user_id:
        raise TransferNotFound(f"Transfer {transfer_id} does not exist.")
    return transfer
