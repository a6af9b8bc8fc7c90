"""Prometheus metrics of the payments service (on top of the common HTTP/outbox/consumer ones)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PAYMENT_OUTCOMES = Counter(
    "payments_outcomes_total",
    "Payments entering a status (created, succeeded, failed, canceled, refunded)",
    ["provider", "purpose", "status"],
)
WEBHOOKS = Counter(
    "payments_webhooks_total",
    "Webhook deliveries by outcome (accepted, duplicate, invalid_signature, malformed, "
    "forbidden_source)",
    ["provider", "outcome"],
)
PROVIDER_EVENTS_PROCESSED = Counter(
    "payments_provider_events_processed_total",
    "Stored provider events processed (applied, unchanged, stale, conflict, mismatch, disagreed, "
    "ignored, unknown_payment, error)",
    ["provider", "outcome"],
)
PROVIDER_EVENTS_BACKLOG = Gauge(
    "payments_provider_events_backlog", "Stored provider events not yet processed"
)
PROVIDER_EVENTS_OLDEST_AGE = Gauge(
    "payments_provider_events_oldest_unprocessed_age_seconds",
    "Age of the oldest unprocessed provider event",
)
PROVIDER_REQUESTS = Counter(
    "payments_provider_requests_total",
    "Calls to payment providers (ok, unavailable, rejected, not_found)",
    ["provider", "operation", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "payments_provider_request_duration_seconds",
    "Latency of calls to payment providers",
    ["provider", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RECONCILIATIONS = Counter(
    "payments_reconciliations_total",
    "Reconciliation checks of unfinished payments (unchanged, advanced, resubmitted, expired, "
    "error)",
    ["provider", "result"],
)
STUCK_PAYMENTS = Gauge(
    "payments_unfinished_past_max_age",
    "Payments still created/pending after payment_max_age_s (should be 0)",
)
REFUNDS = Counter(
    "payments_refunds_total",
    "Refund attempts by result (succeeded, pending, failed, error)",
    ["provider", "result"],
)
LATE_SUCCESS = Counter(
    "payments_provider_succeeded_after_final_total",
    "The provider reports money taken for a payment we already ended failed/canceled (page a "
    "person: refund it by hand)",
    ["provider"],
)
