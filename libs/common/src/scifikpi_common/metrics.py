"""Prometheus metrics shared by all services (HTTP RED, outbox, consumers, DLQ).

APIs serve `/metrics` on their own port; worker processes start a small metrics server on
`metrics_port` when it is set.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)
OUTBOX_PUBLISHED = Counter(
    "outbox_published_total", "Outbox rows published to Kafka", ["service", "topic"]
)
OUTBOX_PUBLISH_ERRORS = Counter(
    "outbox_publish_errors_total", "Failed publish attempts", ["service", "topic"]
)
EVENTS_CONSUMED = Counter(
    "events_consumed_total",
    "Events handled by consumers",
    ["service", "consumer", "event_type", "outcome"],
)
EVENTS_SKIPPED = Counter(
    "events_skipped_total",
    "Events a strict consumer skipped: an unknown type or a newer schema version than it knows",
    ["service", "topic", "event_type", "reason"],
)
EVENT_HANDLE_LATENCY = Histogram(
    "event_handle_duration_seconds", "Consumer handling time", ["service", "consumer"]
)
CONSUMER_LAG = Gauge(
    "consumer_lag_messages", "Messages behind the partition end", ["service", "topic", "partition"]
)
DLQ_MESSAGES = Counter(
    "dlq_messages_total", "Messages sent to a dead-letter topic", ["service", "topic"]
)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int | None, host: str = "0.0.0.0") -> None:  # noqa: S104 - scraped in-cluster
    if port:
        start_http_server(port, addr=host)
