"""The gateway's span when nothing records spans: the SDK's ids and flags, none of its cost.

Without an OTLP endpoint (`make run`, tests, a deployment without tracing) the tracer provider
has no span processor: every span the SDK builds (attributes, limits, resource, start and end
hooks) is thrown away. Only its context is used, as the upstream's `traceparent` and the trace
id of log lines. `unrecorded_span` builds that context as the SDK's `Tracer.start_span` does with
its defaults (`ParentBased(ALWAYS_ON)` sampler, `RandomIdGenerator`): the caller's trace id and
trace state, a new random span id, sampled iff the caller's span is (a new trace: sampled), the
random-trace-id flag taken from the caller (a new trace: set). `tests/test_spans.py` compares
it with the SDK. About 20 µs less per request (ADR 0008).
"""

from __future__ import annotations

import random

from opentelemetry import context as otel_context
from opentelemetry.trace import (
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    get_current_span,
)

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
    """A non-recording span that is a child of `parent`'s span (a new trace without one)."""
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
