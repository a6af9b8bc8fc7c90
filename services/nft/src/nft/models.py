"""Tables of the `nft` schema (the migration `0001` is the authority; these mirror it).

- `catalog_items`: what admins sell: price in micro-points, supply with a CHECK that the sold
  count never exceeds the total, `active` / `retired`;
- `purchases`: the saga's state (pending → reserved → completed | failed), one per
  (user, Idempotency-Key); while minting, the item index and the TON message carrying it;
- `nfts`: minted items (in custody, or transferred to the owner's wallet);
- `transfers`: every transfer of an NFT to a user's wallet, with its message hash and outcome;
- `wallets`, `wallet_challenges`: verified TON wallets and the single-use ton_proof payloads;
- `ton_messages`: the TON send log: every signed external (stored before it is sent, re-sent
  verbatim), its HLv3 query id and validity window, and how it settled;
- `outbox`, `inbox`.
"""

from __future__ import annotations

from scifikpi_common.db import make_metadata
from scifikpi_common.inbox import inbox_table
from scifikpi_common.outbox import Outbox, outbox_table
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

SCHEMA = "nft"
#: The channel the chain engine LISTENs on: new work (a reserved purchase, a pending transfer).
CHAIN_CHANNEL = "nft_chain"
metadata = make_metadata(SCHEMA)

catalog_items = Table(
    "catalog_items",
    metadata,
    Column("id", PgUUID(as_uuid=True), primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("image_url", Text, nullable=False),
    Column("attributes", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("price_points_micro", BigInteger, nullable=False),
    Column("supply_total", Integer, nullable=False),
    Column("supply_sold", Integer, nullable=False, server_default="0"),
    Column("status", Text, nullable=False, server_default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("price_points_micro > 0", name="price"),
    CheckConstraint("supply_total > 0", name="supply_total"),
    CheckConstraint("supply_sold >= 0 AND supply_sold <= supply_total", name="supply_sold"),
    CheckConstraint("status IN ('active', 'retired')", name="status"),
    CheckConstraint("jsonb_typeof(attributes) = 'array'", name="attributes"),
)
# Keyset pages, newest first: the public catalog (active only) and the admin list (all).
Index(
    "ix_catalog_items_active_page",
    catalog_items.c.created_at.desc(),
    catalog_items.c.id.desc(),
    postgresql_where=text("status = 'active'"),
)
Index("ix_catalog_items_page", catalog_items.c.created_at.desc(), catalog_items.c.id.desc())

_UUID = PgUUID(as_uuid=True)
_TS = DateTime(timezone=True)

ton_messages = Table(
    "ton_messages",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("kind", Text, nullable=False),  # mint | transfer | deploy
    Column("query_id", BigInteger, nullable=False),
    Column("created_at_chain", BigInteger, nullable=False),  # HLv3 created_at (unix s)
    Column("timeout_s", Integer, nullable=False),
    Column("boc", LargeBinary, nullable=False),  # the signed external message, sent as is
    Column("message_hash", Text, nullable=False),  # hex of the external's cell hash
    Column("items", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="signed"),  # signed | sent | settled
    Column("sends", Integer, nullable=False, server_default="0"),
    Column("last_sent_at", _TS),
    Column("processed_at", _TS),  # first seen executed by the wallet (HLv3 `processed?`)
    Column("last_error", Text),
    Column("outcome", Text),
    Column("created_at", _TS, nullable=False),
    Column("settled_at", _TS),
    UniqueConstraint("message_hash", name="ton_messages_hash_key"),
)
Index("ix_ton_messages_open", ton_messages.c.id, postgresql_where=text("status <> 'settled'"))
hl_query_seq = Sequence("hl_query_seq", schema=SCHEMA, metadata=metadata)

purchases = Table(
    "purchases",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("user_id", _UUID, nullable=False),
    Column("catalog_item_id", _UUID, ForeignKey(catalog_items.c.id), nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("price_points_micro", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # pending | reserved | completed | failed
    Column("failure_reason", Text),
    Column("mint_attempts", Integer, nullable=False, server_default="0"),
    Column("item_index", BigInteger),
    Column("message_id", BigInteger, ForeignKey(ton_messages.c.id)),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("reserved_at", _TS),
    Column("completed_at", _TS),
    Column("failed_at", _TS),
    UniqueConstraint("user_id", "idempotency_key", name="purchases_idempotency_key"),
)
Index(
    "ix_purchases_user_page",
    purchases.c.user_id,
    purchases.c.created_at.desc(),
    purchases.c.id.desc(),
)
Index(
    "ix_purchases_open",
    purchases.c.status,
    purchases.c.updated_at,
    postgresql_where=text("status IN ('pending', 'reserved')"),
)
Index(
    "ix_purchases_message", purchases.c.message_id, postgresql_where=text("message_id IS NOT NULL")
)

nfts = Table(
    "nfts",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("purchase_id", _UUID, ForeignKey(purchases.c.id), nullable=False, unique=True),
    Column("user_id", _UUID, nullable=False),
    Column("catalog_item_id", _UUID, ForeignKey(catalog_items.c.id), nullable=False),
    Column("collection_address", Text, nullable=False),  # raw `0:<hex>`
    Column("item_index", BigInteger, nullable=False),
    Column("item_address", Text, nullable=False, unique=True),  # raw `0:<hex>`
    Column("owner_address", Text, nullable=False),  # raw; custody until transferred
    Column("status", Text, nullable=False, server_default="custody"),  # custody | transferred
    Column("minted_at", _TS, nullable=False),
    Column("transferred_at", _TS),
    UniqueConstraint("collection_address", "item_index", name="nfts_index_key"),
)
Index("ix_nfts_user_page", nfts.c.user_id, nfts.c.minted_at.desc(), nfts.c.id.desc())

wallets = Table(
    "wallets",
    metadata,
    Column("user_id", _UUID, primary_key=True),
    Column("address", Text, nullable=False, unique=True),  # raw `0:<hex>`
    Column("public_key", Text, nullable=False),  # hex
    Column("verified_at", _TS, nullable=False),
)

wallet_challenges = Table(
    "wallet_challenges",
    metadata,
    Column("payload", Text, primary_key=True),
    Column("user_id", _UUID, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("expires_at", _TS, nullable=False),
    Column("used_at", _TS),
)
Index("ix_wallet_challenges_expiry", wallet_challenges.c.expires_at)

transfers = Table(
    "transfers",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("nft_id", _UUID, ForeignKey(nfts.c.id), nullable=False),
    Column("user_id", _UUID, nullable=False),
    Column("to_address", Text, nullable=False),  # raw `0:<hex>`
    Column("status", Text, nullable=False),  # pending | completed | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("message_id", BigInteger, ForeignKey(ton_messages.c.id)),
    Column("message_hash", Text),
    Column("failure_reason", Text),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("completed_at", _TS),
)
# At most one transfer of an NFT in flight.
Index(
    "ux_transfers_in_flight",
    transfers.c.nft_id,
    unique=True,
    postgresql_where=text("status = 'pending'"),
)
Index("ix_transfers_open", transfers.c.updated_at, postgresql_where=text("status = 'pending'"))

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def make_outbox() -> Outbox:
    return Outbox(outbox, producer="nft")
