"""SQL of the ledger: the only package that runs statements on its tables.

Each repository takes the unit of work's session, runs in the caller's transaction and never
commits; reads return `domain` values, never rows.

- `PostingRepository` (`postings.py`): the posting functions of migration 0002 (single transfers,
  holds and their resolutions, the batch credit path), the transfer a refund reverses, due holds;
- `AccountRepository` (`accounts.py`): account ids, balances, the user's history pages;
- `InvariantRepository` (`invariants.py`): the queries of the invariant check.
"""

from ledger.repository.accounts import AccountRepository
from ledger.repository.invariants import InvariantRepository
from ledger.repository.postings import PostingRepository

__all__ = ["AccountRepository", "InvariantRepository", "PostingRepository"]
