"""OpenTelemetry: one tracer provider per process, W3C `traceparent` over HTTP and Kafka.

Spans are always created (log lines carry their trace id); they are exported over OTLP/HTTP only
when an endpoint is configured. Without one, the SDK would build every span and throw it away:
`server_span` then makes only its context (`unrecorded_span`, as the gateway does, ADR 0008),
the same ids and flags the SDK's defaults give, ~40 µs less per request (ADR 0009).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import (
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    get_current_span,
)

_configured = False
#: True once a span processor exports what the tracer records (an OTLP endpoint is set).
_exporting = False


def configure_tracing(service_name: str, otlp_endpoint: str | None) -> None:
    global _configured, _exporting
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        _exporting = True
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str = "scifikpi") -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_headers() -> dict[str, str]:
    """`traceparent`/`tracestate` of the current span, to store with an outbox row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str]) -> otel_context.Context:
    return propagate.extract(dict(headers))


def kafka_headers_to_dict(
    headers: Iterable[tuple[str, bytes | None]] | None,
) -> dict[str, str]:
    return {k: v.decode("utf-8", "replace") for k, v in (headers or ()) if v is not None}


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def exporting() -> bool:
    """Whether recorded spans go anywhere (`configure_tracing` was given an endpoint)."""
    return _exporting


_NEW_TRACE = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_FLAGS = {
    (sampled, rnd): TraceFlags(
        (TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
        | (TraceFlags.RANDOM_TRACE_ID if rnd else 0)
    )
    for sampled in (False, True)
    for rnd in (False, True)
}


def _random_id(bits: int, invalid: int) -> int:
    value = random.getrandbits(bits)
    while value == invalid:
        value = random.getrandbits(bits)
    return value


def unrecorded_span(parent: otel_context.Context | None) -> NonRecordingSpan:
    """A non-recording child of `parent`'s span (a new trace without one), with the ids and flags
    the SDK's defaults (`ParentBased(ALWAYS_ON)`, `RandomIdGenerator`) would give it: the
    caller's trace id and state, a new span id, sampled iff the caller is (a new trace: sampled),
    the random-trace-id flag from the caller (a new trace: set)."""
    span_id = _random_id(64, INVALID_SPAN_ID)
    if parent is not None:
        caller = get_current_span(parent).get_span_context()
        if caller.is_valid:
            flags = _FLAGS[caller.trace_flags.sampled, caller.trace_flags.random_trace_id]
            return NonRecordingSpan(
                SpanContext(caller.trace_id, span_id, False, flags, caller.trace_state)
            )
    trace_id = _random_id(128, INVALID_TRACE_ID)
    return NonRecordingSpan(SpanContext(trace_id, span_id, False, _NEW_TRACE))


@contextmanager
def server_span(tracer_: trace.Tracer, name: str, parent: otel_context.Context) -> Iterator[Span]:
    """The request's SERVER span as the current span: the SDK's when spans are exported, else
    an unrecorded one with the same context (log lines and outbox rows carry its ids)."""
    if _exporting:
        with tracer_.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
            yield span
        return
    span = unrecorded_span(parent)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    try:
        yield span
    finally:
        otel_context.detach(token)
