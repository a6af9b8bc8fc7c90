"""Rules of the TON send log: what a signed external is, when it is re-sent and when it is dead.

- a signed external is stored (`ton_messages`) in the same transaction that assigns work to it,
  and only then sent, so a crash between the two re-sends the stored bytes;
- a message that is neither executed nor expired is re-sent verbatim, never re-signed: HLv3
  executes a query id at most once, so re-sending cannot mint twice;
- a message is *dead* once it provably cannot execute any more: the wallet executed it (HLv3
  `processed?`) and the grace for its internal messages has passed, or its validity window
  (`created_at + timeout`) has passed without execution. Only then is its work re-signed in a new
  message (or failed after the bounded attempts).

No framework, database or TON SDK imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID


class MessageKind(StrEnum):
    mint = "mint"
    transfer = "transfer"
    deploy = "deploy"


class MessageStatus(StrEnum):
    """signed (stored, maybe not sent yet) → sent (a liteserver took it) → settled."""

    signed = "signed"
    sent = "sent"
    settled = "settled"


class Outcome(StrEnum):
    """How a message settled: its work confirmed on chain, or why it died."""

    confirmed = "confirmed"
    expired = "expired"
    insufficient_balance = "insufficient_balance"
    bounced = "bounced"
    unknown = "unknown"


class SendResult(StrEnum):
    """What handing a stored message to the chain gave (`nft_ton_messages_sent_total`)."""

    accepted = "accepted"
    rejected = "rejected"  # refused before execution: executed, expired or invalid
    unavailable = "unavailable"  # not reached: retried


class Verdict(StrEnum):
    """What to do with a message whose work is not all confirmed."""

    wait = "wait"
    resend = "resend"
    dead = "dead"


class GaveUp(StrEnum):
    """What became of work left undone by a dead message (`nft_*_outcomes_total`)."""

    retried = "retried"  # re-signed in a new message
    failed = "failed"  # out of attempts


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    kind: MessageKind
    query_id: int
    created_at_chain: int
    timeout_s: int
    boc: bytes
    message_hash: str
    items: int
    status: MessageStatus
    sends: int
    last_sent_at: datetime | None
    processed_at: datetime | None

    def expired(self, chain_now: int) -> bool:
        """After its window (`created_at + timeout`) the message can no longer execute."""
        return chain_now > self.created_at_chain + self.timeout_s


@dataclass(frozen=True, slots=True)
class MintJob:
    """A reserved purchase in (or waiting for) a mint message."""

    purchase_id: UUID
    user_id: UUID
    catalog_item_id: UUID
    item_index: int | None
    mint_attempts: int

    @property
    def index(self) -> int:
        assert self.item_index is not None, "a job in a message has its index"
        return self.item_index


@dataclass(frozen=True, slots=True)
class TransferJob:
    """A pending transfer in (or waiting for) a transfer message."""

    transfer_id: UUID
    nft_id: UUID
    user_id: UUID
    to_address: str
    item_address: str
    attempts: int


def executed_verdict(processed_at: datetime, now: datetime, *, settle_grace_s: float) -> Verdict:
    """The wallet executed the message: its internal messages may still be in flight for the
    grace period; after that whatever is missing will not come."""
    return Verdict.dead if now - processed_at >= timedelta(seconds=settle_grace_s) else Verdict.wait


def unexecuted_verdict(
    message: StoredMessage, *, now: datetime, chain_now: int, resend_interval_s: float
) -> Verdict:
    """Not executed (yet): dead once its window passed; else re-sent while never sent or every
    `resend_interval_s`."""
    if message.expired(chain_now):
        return Verdict.dead
    due = message.last_sent_at is None or (
        now - message.last_sent_at >= timedelta(seconds=resend_interval_s)
    )
    return Verdict.resend if message.status == MessageStatus.signed or due else Verdict.wait


def diagnose(*, balance: int, per_item: int, items: int) -> Outcome:
    """Why an executed message whose wallet transaction looked healthy left work undone: the
    wallet cannot pay for the items now (it ran dry), or a destination refused and bounced."""
    if balance < per_item * max(items, 1):
        return Outcome.insufficient_balance
    return Outcome.bounced


def exhausted(attempts: int, max_attempts: int) -> bool:
    """Signed `attempts` times already: the work fails instead of being re-signed."""
    return attempts >= max_attempts
