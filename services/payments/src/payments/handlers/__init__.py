"""Use cases of the payments service, one transaction each. HTTP routes, the Kafka consumers, the
scheduler's flows and the admin CLI all call these; where a provider call sits between two
transactions, a flow (`payments.flows`) runs one use case before the call and one after.

Each takes the unit of work and never commits. Every status change goes through
`apply_observation` -> `domain.transition` under a row lock, and the event tied to entering a
status is written to the outbox in that same transaction: that is what makes `PaymentSucceeded`,
`PaymentFailed` and `PaymentRefunded` leave exactly once per payment.
"""

from payments.handlers.accounts import account_activated, account_registered, account_status
from payments.handlers.create import (
    StartedPayment,
    claim_submission,
    start_payment,
    submission_failed,
    submission_rejected,
    submission_succeeded,
)
from payments.handlers.events import (
    RetryLater,
    apply_provider_event,
    backlog,
    claim_due_events,
    fail_event,
    finish_event,
    store_provider_event,
)
from payments.handlers.reads import (
    PaymentDetails,
    find_payment,
    get_payment,
    list_payments,
    payment_details,
)
from payments.handlers.refunds import (
    claim_due_refunds,
    claim_refund,
    get_refund,
    get_refund_for_payment,
    refund_attempt_failed,
    refund_rejected_acceleration,
    refund_result,
    request_refund,
)
from payments.handlers.status import (
    apply_observation,
    apply_reconciliation,
    claim_due_checks,
    enter,
    fail_locally,
    lock_payment,
    lock_payment_by_provider_id,
)

__all__ = [
    "PaymentDetails",
    "RetryLater",
    "StartedPayment",
    "account_activated",
    "account_registered",
    "account_status",
    "apply_observation",
    "apply_provider_event",
    "apply_reconciliation",
    "backlog",
    "claim_due_checks",
    "claim_due_events",
    "claim_due_refunds",
    "claim_refund",
    "claim_submission",
    "enter",
    "fail_event",
    "fail_locally",
    "find_payment",
    "finish_event",
    "get_payment",
    "get_refund",
    "get_refund_for_payment",
    "list_payments",
    "lock_payment",
    "lock_payment_by_provider_id",
    "payment_details",
    "refund_attempt_failed",
    "refund_rejected_acceleration",
    "refund_result",
    "request_refund",
    "start_payment",
    "store_provider_event",
    "submission_failed",
    "submission_rejected",
    "submission_succeeded",
]
