"""Event consumers: at-least-once delivery made effectively-once by the inbox.

Each message is handled in one transaction that first claims `(consumer, event_id)` in the
service's inbox, then runs the handler, then commits; only after that commit is the Kafka offset
committed (FastStream `NACK_ON_ERROR`). Failures:
- a malformed envelope or payload is poison: straight to `<topic>.dlq`;
- a handler error is retried with exponential backoff, then dead-lettered;
- an infrastructure error (database or network down) is never dead-lettered: the consumer waits
  and re-reads the message, so an outage delays events but loses none.

Batch handlers (opt-in, `@consumers.batch_handler(MiningCompleted)`) receive
`list[(event, envelope)]` and one unit of work. A topic with a batch handler is consumed with a
FastStream batch subscriber (`getmany`, up to `max_batch` records): each run of consecutive
messages of a batch-handled event type is claimed in the inbox with ONE multi-row insert
(duplicates, redelivered or repeated within the batch, are skipped), handled, and committed once;
the Kafka offsets are committed after the whole poll is handled (a failure seeks every partition
back to the batch's first record). If the batch transaction fails with a handler error, the run
falls back to the per-message path (own transaction, retries, `<topic>.dlq`), so one poison
message is dead-lettered without taking the others with it. Every other message of the poll, and
every topic without a batch handler, keeps the per-message semantics above.

Modules: `delivery` (what is delivered and what became of it), `handling` (the per-message
path), `batching` (the batch path), `consumers` (registration and subscriptions),
`membership` (static group membership), `broker`.
"""

from scifikpi_common.messaging.broker import make_broker
from scifikpi_common.messaging.consumers import EventConsumers
from scifikpi_common.messaging.delivery import (
    BatchItem,
    Delivery,
    Handler,
    Outcome,
    PoisonMessage,
    is_infrastructure_error,
)
from scifikpi_common.messaging.membership import Membership, instance_id_from_env

__all__ = [
    "BatchItem",
    "Delivery",
    "EventConsumers",
    "Handler",
    "Outcome",
    "PoisonMessage",
    "Membership",
    "is_infrastructure_error",
    "instance_id_from_env",
    "make_broker",
]
