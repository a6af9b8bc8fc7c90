"""The log lines the real service processes wrote during the e2e run carry what the log pipeline
and its rules rely on.

Alloy (`deploy/observability/alloy/`) parses each line as JSON and lifts `level` and `service`
into Loki labels and `trace_id` / `request_id` into structured metadata; the Loki rules select
on those labels and match `event` names. A line that is not one JSON object, or that lacks one of
those fields, silently falls out of every alert. Runs near the end of the session (the name sorts
after the other e2e files; only the secret scan, test_zz_security_logs, runs later), so the log
holds every flow the suite drove. That no token, password or card number is among these lines is
test_zz_security_logs's job, over the same log.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_support import individual, new_email

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

STRUCTLOG_LEVELS = {"debug", "info", "warning", "error", "critical"}
#: `<service>-<role>` of a long-running process of ours; `-migrate` is Alembic's plain text
PROCESS = re.compile(r"^(?P<service>[a-z]+)-(?:api|worker|relay|scheduler)$")
LINE = re.compile(r"^(?P<process>\S+)\s*\| (?P<text>.*)$")


def _service_lines(log_path: str) -> list[tuple[str, str]]:
    out = []
    for raw in Path(log_path).read_text(errors="replace").splitlines():
        line = LINE.match(raw)
        if line and PROCESS.match(line["process"]):
            out.append((line["process"], line["text"]))
    return out


def _log_path(e2e: Any) -> str:
    if not e2e.log_path:
        pytest.skip("E2E_GATEWAY_URL names a stack whose log this test cannot read")
    return str(e2e.log_path)


def test_every_service_line_is_one_json_object_with_level_service_and_event(e2e: Any) -> None:
    lines = _service_lines(_log_path(e2e))
    processes = Counter(process for process, _ in lines)
    # the suite drove every service: each one's API and worker wrote something
    for service in ("auth", "payments", "mining", "ledger", "nft", "analytics"):
        assert processes[f"{service}-api"] and processes[f"{service}-worker"], processes
    assert processes["gateway-api"], processes
    faults = []
    for process, text in lines:
        try:
            record = json.loads(text)
        except ValueError:
            faults.append(f"{process}: not JSON: {text[:120]}")
            continue
        if not isinstance(record, dict):
            faults.append(f"{process}: not an object: {text[:120]}")
            continue
        service = PROCESS.match(process)["service"]  # type: ignore[index]  # matched above
        if record.get("level") not in STRUCTLOG_LEVELS:
            faults.append(f"{process}: level {record.get('level')!r}: {text[:120]}")
        if record.get("service") != service:
            faults.append(f"{process}: service {record.get('service')!r}: {text[:120]}")
        if not isinstance(record.get("event"), str) or not record["event"]:
            faults.append(f"{process}: no event name: {text[:120]}")
    assert not faults, f"{len(faults)} of {len(lines)} lines:\n" + "\n".join(faults[:20])


async def test_a_request_s_trace_id_and_request_id_are_on_the_service_s_lines(
    e2e: Any, api: httpx.AsyncClient
) -> None:
    """A caller's W3C trace and the request id the gateway answers with reach every line the
    service wrote for the request (its access line and what the use case logged), so an on-call
    engineer goes from a response header or a trace to the lines in Loki. (The gateway writes its
    own per-request line only with GATEWAY_ACCESS_LOG; the services' lines are the access log.)"""
    email = new_email()
    body = individual(email)
    response = await api.post("/auth/register", json=body)
    assert response.status_code == 201, response.text
    login = await api.post("/auth/login", json={"email": email, "password": body["password"]})
    assert login.status_code == 200, login.text
    trace_id = secrets.token_hex(16)
    traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
    # a wrong password: auth logs `login_failed` inside the request, beside its access line
    refused = await api.post(
        "/auth/login",
        json={"email": email, "password": body["password"] + "x"},
        headers={"traceparent": traceparent},
    )
    assert refused.status_code == 401, refused.text
    request_id = refused.headers["x-request-id"]
    log_path = _log_path(e2e)
    records: list[dict[str, Any]] = []
    for _ in range(50):  # the processes' lines reach the stack log asynchronously
        records = [
            json.loads(text)
            for process, text in _service_lines(log_path)
            if process == "auth-api" and trace_id in text
        ]
        if {"login_failed"} < {r["event"] for r in records}:
            break
        await asyncio.sleep(0.1)
    events = {r["event"] for r in records}
    assert "login_failed" in events and len(records) >= 2, records  # the use case + access line
    for record in records:
        assert record.get("trace_id") == trace_id, record
        assert record.get("request_id") == request_id, record
    others = [process for process, text in _service_lines(log_path) if trace_id in text]
    assert set(others) <= {"auth-api", "gateway-api"}, others  # no stray process claims it
