"""The services' request span without an exporter: the SDK's ids and flags, current while the
request runs (log lines and outbox rows carry it), gone afterwards."""

from __future__ import annotations

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from scifikpi_common import tracing
from scifikpi_common.tracing import (
    current_trace_headers,
    current_trace_id,
    server_span,
    unrecorded_span,
)

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
def test_the_unrecorded_span_matches_the_sdk(carrier: dict[str, str] | None) -> None:
    sdk_tracer = TracerProvider().get_tracer("svc")  # the SDK's defaults, as configure_tracing
    parent = propagate.extract(carrier) if carrier else None
    sdk = sdk_tracer.start_span("x", context=parent, kind=SpanKind.SERVER).get_span_context()
    ours = unrecorded_span(parent).get_span_context()
    new_trace = sdk.trace_id != int(TRACE, 16)
    assert (ours.trace_id == sdk.trace_id) is not new_trace
    assert ours.trace_flags == sdk.trace_flags
    assert ours.trace_state == sdk.trace_state
    assert ours.is_remote is sdk.is_remote is False
    assert ours.is_valid and ours.span_id != sdk.span_id


def test_without_an_exporter_the_request_span_is_current_and_continues_the_callers_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracing, "_exporting", False)
    parent = propagate.extract({"traceparent": f"00-{TRACE}-00f067aa0ba902b7-01"})
    before = current_trace_id()
    with server_span(tracing.tracer("svc"), "GET /x", parent) as span:
        assert not span.is_recording()
        assert current_trace_id() == TRACE
        headers = current_trace_headers()  # what an outbox row stores
        assert headers["traceparent"].startswith(f"00-{TRACE}-")
        assert f"{span.get_span_context().span_id:016x}" in headers["traceparent"]
    assert current_trace_id() == before


def test_with_an_exporter_the_sdk_records_the_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_exporting", True)
    sdk_tracer = TracerProvider().get_tracer("svc")
    with server_span(sdk_tracer, "GET /x", propagate.extract({})) as span:
        assert span.is_recording()
        assert trace.get_current_span() is span
