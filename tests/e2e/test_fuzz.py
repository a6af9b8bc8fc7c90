"""Fuzzing the public API through the gateway (issue 12 §5), the bounded CI run.

schemathesis (`scifikpi_tools.fuzz`, the same run as `make fuzz` with fewer examples) sends
generated requests to every operation of the merged `/openapi.json`: as an active user with a
running mining session (public and user operations) and as an admin made with `auth-admin
create-admin` (admin operations). Every response must be no 5xx, a documented status code,
content type and body, and every error `application/problem+json` with a `type`. The seed is
fixed and generation deterministic, so a failure here reproduces with the printed seed and curl.

The engine is synchronous and the session's stack drains its processes' output on this event
loop, so the run goes to a thread: a blocked loop would stall the services on full pipes.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from e2e_support import PASSWORD, active_user, bearer, new_email, run_cli
from scifikpi_tools import fuzz

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

#: few examples per operation and phase: the whole file stays well under 150 s on two cores
EXAMPLES = 25
SEED = 20261207
STATEFUL_STEPS = 8


async def _operations(gateway: httpx.AsyncClient, role: str) -> set[str]:
    """The labels (`GET /api/v1/...`) of the spec's operations in `role`'s scope."""
    spec = (await gateway.get("/openapi.json")).raise_for_status().json()
    return {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and op.get("x-access", "public") in fuzz.SCOPES[role]
    }


async def _run(gateway_url: str, identity: fuzz.Identity) -> fuzz.Tally:
    started = time.monotonic()
    tally = await asyncio.to_thread(
        fuzz.fuzz, gateway_url, identity, examples=EXAMPLES, seed=SEED,
        stateful_steps=STATEFUL_STEPS,
    )  # fmt: skip
    print(f"\n{tally.summary()}\n({time.monotonic() - started:.1f} s with seed {SEED})")
    return tally


def _assert_clean(tally: fuzz.Tally, expected: set[str]) -> None:
    assert not tally.errors, tally.summary()
    assert tally.failures == 0, tally.summary()
    # every operation in scope answered at least one generated request
    assert tally.operations == expected, sorted(expected ^ tally.operations)
    assert tally.cases >= len(expected) * 2, tally.summary()


async def test_fuzz_as_a_user(
    gateway: httpx.AsyncClient, api: httpx.AsyncClient, localstripe_url: str
) -> None:
    session = await active_user(api, localstripe_url)
    started = await api.post("/mining/start", headers=bearer(session["access_token"]))
    assert started.status_code == 201, started.text
    expected = await _operations(gateway, "user")
    assert len(expected) >= 25, sorted(expected)
    identity = fuzz.Identity("user", session["user"]["email"], PASSWORD)
    _assert_clean(await _run(str(gateway.base_url).rstrip("/"), identity), expected)


async def test_fuzz_as_an_admin(
    gateway: httpx.AsyncClient, api: httpx.AsyncClient, database_url: str
) -> None:
    email = new_email("fuzz-admin")
    made = run_cli(
        "auth-admin", "create-admin", "--email", email, "--password-stdin",
        database_url=database_url, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    expected = await _operations(gateway, "admin")
    assert len(expected) >= 10, sorted(expected)
    identity = fuzz.Identity("admin", email, PASSWORD)
    _assert_clean(await _run(str(gateway.base_url).rstrip("/"), identity), expected)
