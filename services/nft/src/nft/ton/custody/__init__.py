"""The custody wallet (a HighloadWalletV3 that owns the collection) and what it signs."""

from nft.ton.custody.messages import (
    ADMIN_QUERY_SHIFT,
    CLOCK_LAG_S,
    CustodyStatus,
    SignedExternal,
    WalletTx,
    admin_query_id,
    hl_query_id,
)
from nft.ton.custody.wallet import Custody

__all__ = [
    "ADMIN_QUERY_SHIFT",
    "CLOCK_LAG_S",
    "Custody",
    "CustodyStatus",
    "SignedExternal",
    "WalletTx",
    "admin_query_id",
    "hl_query_id",
]
