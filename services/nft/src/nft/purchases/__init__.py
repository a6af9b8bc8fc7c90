"""Purchases: the saga's entry (`POST /nft/purchases`), the ledger's answers, how a purchase ends
without an item, and the reads (`/nft/purchases`, `/nft/mine`)."""
