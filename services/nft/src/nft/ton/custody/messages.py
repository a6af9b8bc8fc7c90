"""What the custody wallet signs and reads, as values: HLv3 query ids, a signed external, the
wallet's outcome for one, and the custody's readiness. Pure (no I/O).

Query ids: `hl_query_id(n)` maps a DB sequence onto HLv3's `shift:13 | bit:10` (bit ≤ 1022),
shifts 0..8190; shift 8191 is reserved for admin operations (wallet and collection deployment), so
they never collide with the engine's messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytoniq_core import Address, Cell

CLOCK_LAG_S = 30  # created_at = chain now - 30: liteserver clocks lag (HLv3 exit 35 otherwise)
COLLECTION_DEPLOY_VALUE_NANO = 50_000_000  # 0.05 TON: the collection's storage reserve
ADMIN_QUERY_SHIFT = 8191  # HLv3 query ids with this shift are reserved for admin operations
_QUERY_SPACE = ADMIN_QUERY_SHIFT * 1023  # sequence values per wrap (shifts 0..8190)
OP_INTERNAL_TRANSFER = 0xAE42E5A4


def hl_query_id(n: int) -> int:
    """HLv3 query_id for the n-th message of the DB sequence: `shift:13 | bit:10`, bit ≤ 1022
    (1023 is rejected with exit 9); wraps after ~8.38M messages (far beyond one timeout)."""
    if n < 0:
        raise ValueError("query sequence must be non-negative")
    shift, bit = divmod(n % _QUERY_SPACE, 1023)
    return (shift << 10) | bit


def admin_query_id(now: int, slot: int = 0) -> int:
    """A query id for an admin operation (shift 8191): distinct per second and slot (0..7)."""
    return (ADMIN_QUERY_SHIFT << 10) | ((now * 8 + slot) % 1023)


@dataclass(frozen=True)
class SignedExternal:
    boc: bytes  # the whole external message, ready for raw_send_message
    message_hash: str  # hex cell hash of the external message (tx.in_msg.serialize().hash)
    query_id: int
    created_at: int
    timeout: int

    @property
    def expires_at(self) -> int:
        """After this chain time the message can no longer execute."""
        return self.created_at + self.timeout


@dataclass(frozen=True)
class WalletTx:
    """The wallet's transaction(s) for one external: the external's own and, for a batch, the
    internal_transfer to itself that performs the sends. Healthy: exit 0, not aborted, action
    success, no skipped actions, out_messages == messages signed."""

    exit_code: int | None
    aborted: bool
    action_success: bool | None
    skipped_actions: int
    out_messages: int

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0
            and not self.aborted
            and bool(self.action_success)
            and self.skipped_actions == 0
        )


@dataclass(frozen=True)
class CustodyStatus:
    address: Address
    collection: Address
    wallet_active: bool
    balance: int
    collection_active: bool
    collection_code_ok: bool
    owner_ok: bool
    next_index: int | None

    @property
    def ok(self) -> bool:
        return (
            self.wallet_active
            and self.collection_active
            and self.collection_code_ok
            and self.owner_ok
            and self.next_index is not None
        )


def slice_address(value: Any) -> Address | None:
    if isinstance(value, Cell):
        value = value.begin_parse()
    return value.load_address()


def is_internal_transfer(body: Cell | None) -> bool:
    if body is None:
        return False
    cs = body.begin_parse()
    return cs.remaining_bits >= 32 and cs.preload_uint(32) == OP_INTERNAL_TRANSFER
