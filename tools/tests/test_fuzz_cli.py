"""The fuzz tool against a small app with known faults: it must find each, see only its scope's
operations, log in for its token, and repeat itself exactly with the same seed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
import uvicorn
from fastapi import FastAPI, Header
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, PlainTextResponse
from scifikpi_tools import fuzz, localinfra

PROBLEM = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}},
    "required": ["type"],
}
SEEN_TOKENS: list[str] = []


def faulty_app() -> FastAPI:
    """`GET /api/v1/items/{n}`: 200 for 0..100, a plain-JSON 404 below 0 (not problem+json),
    a 500 above 100; an admin-only operation the user run must not call."""
    app = FastAPI()
    problem = {"content": {"application/problem+json": {"schema": PROBLEM}}}

    @app.post("/api/v1/auth/login", include_in_schema=False)
    def login() -> dict[str, str]:
        return {"access_token": "token-from-login"}

    @app.get(
        "/api/v1/items/{n}",
        responses={404: problem, 401: problem, 422: problem},
        openapi_extra={"x-access": "user", "security": [{"HTTPBearer": []}]},
    )
    def item(
        n: Annotated[int, PathParam()], authorization: Annotated[str, Header()] = ""
    ) -> object:
        SEEN_TOKENS.append(authorization)
        if n > 100:
            return PlainTextResponse("boom", status_code=500)
        if n < 0:
            return JSONResponse({"detail": "no such item"}, status_code=404)
        return {"n": n}

    @app.get("/api/v1/admin/things", openapi_extra={"x-access": "admin"})
    def things() -> dict[str, int]:
        return {"count": 0}

    return app


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    port = localinfra.free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(faulty_app(), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test app did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


USER = fuzz.Identity("user", "someone@example.com", "pw")


def test_finds_server_errors_and_non_problem_errors(app_url: str) -> None:
    tally = fuzz.fuzz(app_url, USER, examples=30, seed=1, stateful_steps=0)
    found = {(f.check, f.operation) for f in tally.findings.values()}
    op = "GET /api/v1/items/{n}"
    assert ("not_a_server_error", op) in found, tally.summary()
    assert (fuzz.PROBLEM_CHECK, op) in found, tally.summary()
    assert tally.failures_by_check["not_a_server_error"] >= 1
    assert tally.cases > 0 and tally.failures == sum(tally.failures_by_check.values())
    # the finding says how to repeat it
    assert all(f.curl.startswith("curl") for f in tally.findings.values()), tally.summary()


def test_scope_and_login_token(app_url: str) -> None:
    SEEN_TOKENS.clear()
    tally = fuzz.fuzz(app_url, USER, examples=5, seed=1, stateful_steps=0)
    assert tally.operations == {"GET /api/v1/items/{n}"}, "admin operations are not the user's"
    assert tally.selected == 1
    assert "Bearer token-from-login" in SEEN_TOKENS
    admin = fuzz.fuzz(app_url, fuzz.Identity("admin", "a@example.com", "pw"), examples=5,
                      seed=1, stateful_steps=0)  # fmt: skip
    assert admin.operations == {"GET /api/v1/admin/things"}
    # FastAPI's own 405 (an unexpected method from the coverage phase) is not problem+json
    assert {f.status for f in admin.findings.values()} <= {405}, admin.summary()


def test_same_seed_same_cases(app_url: str) -> None:
    runs = [fuzz.fuzz(app_url, USER, examples=15, seed=7, stateful_steps=0) for _ in range(2)]
    assert runs[0].cases == runs[1].cases
    assert runs[0].cases_by_phase == runs[1].cases_by_phase
    assert set(runs[0].findings) == set(runs[1].findings)


def test_running_stack_reads_stack_env(tmp_path: Path) -> None:
    env = tmp_path / "stack.env"
    env.write_text(
        "ENVIRONMENT=local\nDATABASE_URL='postgresql://u:p@127.0.0.1:5432/db'\n"
        "NFT_PUBLIC_BASE_URL=http://127.0.0.1:18000/api/v1\n"
    )
    target = fuzz.running_stack(env)
    assert target == fuzz.Target(
        "http://127.0.0.1:18000", "http://127.0.0.1:18420", "postgresql://u:p@127.0.0.1:5432/db"
    )
