"""Use cases of the payments service, one transaction each. HTTP routes, the Kafka consumers, the
scheduler and the admin CLI all call these (directly, or through `payments.service` when a
provider call sits between two transactions).

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
from payments.handlers.reads import decode_cursor, encode_cursor, get_payment, list_payments
from payments.handlers.refunds import (
    claim_refund,
    get_refund_for_payment,
    refund_attempt_failed,
    refund_result,
    request_refund,
)
from payments.handlers.status import (
    ApplyOutcome,
    apply_observation,
    enter,
    lock_payment,
    lock_payment_by_provider_id,
    store_provider_event,
)

__all__ = [
    "ApplyOutcome",
    "StartedPayment",
    "account_activated",
    "account_registered",
    "account_status",
    "apply_observation",
    "claim_refund",
    "claim_submission",
    "decode_cursor",
    "encode_cursor",
    "enter",
    "get_payment",
    "get_refund_for_payment",
    "list_payments",
    "lock_payment",
    "lock_payment_by_provider_id",
    "refund_attempt_failed",
    "refund_result",
    "request_refund",
    "start_payment",
    "store_provider_event",
    "submission_failed",
    "submission_rejected",
    "submission_succeeded",
]
