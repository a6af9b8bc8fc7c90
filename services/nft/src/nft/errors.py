"""Problems the nft API answers, each with a stable `urn:scifikpi:problem:<slug>` type.

No framework imports: domain code raises these and `scifikpi_common.problems` renders them.
"""

from __future__ import annotations

from scifikpi_common.errors import Conflict, Forbidden, InvalidToken, NotFound, ValidationFailed


class CatalogItemNotFound(NotFound):
    slug, title = "catalog-item-not-found", "No such catalog item"


class SupplyBelowSold(Conflict):
    slug, title = "supply-below-sold", "The supply cannot go below the number already sold"


class InvalidPrice(ValidationFailed):
    slug, title = (
        "invalid-price",
        "The price must be a positive decimal string with at most 6 decimals",
    )


class InvalidCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The page cursor is not valid"


# --- purchases ---
class AccountNotActive(Forbidden):
    slug, title = "account-not-active", "The account is not active yet"


class InvalidIdempotencyKey(ValidationFailed):
    slug, title = "idempotency-key-invalid", "Idempotency-Key is not acceptable"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "Idempotency-Key was used with a different request"


class CatalogItemRetired(Conflict):
    slug, title = "catalog-item-retired", "The catalog item is retired and no longer sold"


class SoldOut(Conflict):
    slug, title = "sold-out", "The catalog item is sold out"


class PurchaseNotFound(NotFound):
    slug, title = "purchase-not-found", "No such purchase"


# --- NFTs and transfers ---
class NftNotFound(NotFound):
    slug, title = "nft-not-found", "No such NFT"


class NftNotMinted(Conflict):
    slug, title = "nft-not-minted", "The NFT is not minted yet"


class NftAlreadyTransferred(Conflict):
    slug, title = "nft-already-transferred", "The NFT has already been sent to a wallet"


class TransferInProgress(Conflict):
    slug, title = "transfer-in-progress", "A transfer of this NFT is already in progress"


class TransferNotFound(NotFound):
    slug, title = "transfer-not-found", "No such transfer"


# --- wallets ---
class InvalidAddress(ValidationFailed):
    slug, title = (
        "invalid-address",
        "Not a valid TON address (basechain, 32-byte hash, correct checksum)",
    )


class WalletNotVerified(ValidationFailed):
    slug, title = "wallet-not-verified", "The destination is not the account's verified wallet"


class ProofInvalid(InvalidToken):
    """A ton_proof whose signature, key or address does not hold: nothing is bound."""

    slug, title = "invalid-proof", "The ton_proof is not valid"
    headers = None


class ProofRejected(ValidationFailed):
    """A well-formed proof we refuse: wrong domain, stale timestamp, unknown or used payload."""

    slug, title = "proof-rejected", "The ton_proof is not acceptable"


class WalletTaken(Conflict):
    slug, title = "wallet-taken", "This wallet is already bound to another account"


class WalletAlreadyBound(Conflict):
    slug, title = "wallet-already-bound", "The account already has another wallet bound"
