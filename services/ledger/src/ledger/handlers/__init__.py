"""Use cases of the ledger: each runs in the caller's unit of work and never commits.

The consumer runner (inbox claim + handler + one commit), the sweeper's loop (`processes`), the
routes and the admin CLI own the transaction; SQL is in `ledger.repository`.

- `payments`: `book_payment`, `refund_payment`;
- `mining`: `credit_mining`, `credit_mining_batch` (the batch credit path);
- `holds`: `reserve`, `capture`, `release`, `expire`, `due_holds`;
- `reads`: `balance`, `history`, `check_invariants`.
"""

from ledger.handlers.holds import capture, due_holds, expire, release, reserve
from ledger.handlers.mining import credit_mining, credit_mining_batch
from ledger.handlers.payments import book_payment, refund_payment
from ledger.handlers.reads import balance, check_invariants, history

__all__ = [
    "balance",
    "book_payment",
    "capture",
    "check_invariants",
    "credit_mining",
    "credit_mining_batch",
    "due_holds",
    "expire",
    "history",
    "refund_payment",
    "release",
    "reserve",
]
