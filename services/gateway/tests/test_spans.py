"""The unrecorded span carries what the SDK's span would: same trace, flags and state."""

from __future__ import annotations

import pytest
from gateway.spans import unrecorded_span
from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"

CARRIERS = [
    None,
    {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"},
    {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-00"},
    {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-03", "tracestate": "vendor=1,other=2"},
    {"traceparent": f"00-{TRACE}-00f067aa0ba902b7-02"},
    {"traceparent": "garbage"},
    {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01"},  # invalid trace id: a new trace
]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_matches_the_sdk(carrier: dict[str, str] | None) -> None:
    tracer = TracerProvider().get_tracer("gateway")  # the SDK's defaults, as configure_tracing
    parent = propagate.extract(carrier) if carrier else None
    sdk = tracer.start_span("x", context=parent, kind=SpanKind.SERVER).get_span_context()
    ours = unrecorded_span(parent).get_span_context()
    new_trace = sdk.trace_id != int(TRACE, 16)
    assert (ours.trace_id == sdk.trace_id) is not new_trace  # same caller trace, or both new
    assert ours.trace_flags == sdk.trace_flags
    assert ours.trace_state == sdk.trace_state
    assert ours.is_remote is sdk.is_remote is False
    assert ours.is_valid and ours.span_id != sdk.span_id
    assert not unrecorded_span(parent).is_recording()


def test_ids_are_random() -> None:
    spans = [unrecorded_span(None).get_span_context() for _ in range(100)]
    assert len({s.trace_id for s in spans}) == len({s.span_id for s in spans}) == 100
