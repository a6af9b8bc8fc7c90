"""The only code of the payments service that executes SQL. Every method runs in the caller's
transaction (the unit of work's session) and none commits; rows come back as the domain's
dataclasses.

Races are decided by the database: the idempotency key by a unique constraint
(`INSERT ... ON CONFLICT`), status changes under a row lock (`SELECT ... FOR UPDATE`), and work
queues (provider events, reconciliation, refunds, provider create calls) by leases claimed with
`FOR UPDATE SKIP LOCKED` or a guarded `UPDATE`.
"""

from payments.repository.accounts import AccountRepository
from payments.repository.events import ProviderEventRepository
from payments.repository.payments import PaymentRepository
from payments.repository.refunds import RefundRepository
from payments.repository.work import WorkListener, notify_work

__all__ = [
    "AccountRepository",
    "PaymentRepository",
    "ProviderEventRepository",
    "RefundRepository",
    "WorkListener",
    "notify_work",
]
