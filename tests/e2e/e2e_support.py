"""Helpers of the end-to-end tests (request bodies, problem checks, Kafka reads)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

API = "/api/v1"
PASSWORD = "Orbital-Kestrel-4821"  # noqa: S105 - a test account's password


def new_email(prefix: str = "e2e") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}@example.com"


def individual(email: str, *, amount_minor: int = 1000, currency: str = "USD") -> dict[str, Any]:
    return {
        "account_type": "individual",
        "email": email,
        "password": PASSWORD,
        "country": "US",
        "full_name": "Ada Lovelace",
        "initial_deposit": {"amount_minor": amount_minor, "currency": currency},
    }


async def read_until(consumer: Any, match: Any, timeout_s: float = 30.0) -> Any:
    """Read records until `match(record)` is truthy; returns that record (fails at the deadline)."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        batches = await consumer.getmany(timeout_ms=500, max_records=500)
        for records in batches.values():
            for record in records:
                seen += 1
                if match(record):
                    return record
        await asyncio.sleep(0)
    raise AssertionError(f"no matching record within {timeout_s}s ({seen} records read)")


async def eventually(
    probe: Any, *, timeout_s: float = 30.0, interval: float = 0.3, what: str = "condition"
) -> Any:
    """Await `probe()` until it returns something truthy; fail with its last value at the deadline."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout_s}s (last: {last!r})")


def idempotency_key() -> str:
    return str(uuid.uuid4())


# --- accounts and payments through the gateway ------------------------------------------------

FINAL = {"succeeded", "failed", "canceled", "refunded"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    api: httpx.AsyncClient, *, amount_minor: int = 1000, currency: str = "USD"
) -> dict[str, Any]:
    response = await api.post(
        "/auth/register",
        json=individual(new_email("pay"), amount_minor=amount_minor, currency=currency),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["status"] == "pending_payment"
    return body


async def create_payment(
    api: httpx.AsyncClient,
    token: str,
    *,
    provider: str,
    amount_minor: int,
    currency: str,
    purpose: str = "registration",
    key: str | None = None,
    path: str = "/payments",
    quote_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount_minor": amount_minor,
        "currency": currency,
        "provider": provider,
    }
    if path == "/payments":
        body["purpose"] = purpose
    if quote_id is not None:
        body["quote_id"] = quote_id
    response = await api.post(
        path, json=body, headers={**bearer(token), "Idempotency-Key": key or idempotency_key()}
    )
    assert response.status_code == 201, response.text
    payment = response.json()
    assert payment["provider"] == provider
    assert payment["amount_minor"] == amount_minor and payment["currency"] == currency
    assert payment["status"] in {"created", "pending"}, payment
    assert payment["provider_payment_id"], payment
    return payment


async def wait_active(api: httpx.AsyncClient, token: str, timeout_s: float = 30.0) -> dict:
    async def probe() -> dict | None:
        me = await api.get("/auth/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        return me.json() if me.json()["status"] == "active" else None

    return await eventually(probe, timeout_s=timeout_s, what="account active")


async def wait_payment(
    api: httpx.AsyncClient, token: str, payment_id: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    async def probe() -> dict | None:
        response = await api.get(f"/payments/{payment_id}", headers=bearer(token))
        assert response.status_code == 200, response.text
        return response.json() if response.json()["status"] in FINAL else None

    return await eventually(probe, timeout_s=timeout_s, what=f"payment {payment_id} final")


async def active_user(
    api: httpx.AsyncClient, localstripe_url: str, *, deposit_minor: int = 1000
) -> dict[str, Any]:
    """Register, pay the USD deposit at localstripe, wait for activation, refresh the session
    (the new access token says `active`). Returns the refreshed session with `user`."""
    from scifikpi_tools.standins.pay import pay_stripe

    session = await register(api, amount_minor=deposit_minor)
    payment = await create_payment(
        api, session["access_token"], provider="stripe", amount_minor=deposit_minor,
        currency="USD",
    )  # fmt: skip
    assert pay_stripe(localstripe_url, payment["provider_payment_id"])["status"] == "succeeded"
    await wait_active(api, session["access_token"])
    refreshed = await api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["user"]["status"] == "active", body
    return {**body, "registration_payment_id": payment["id"]}


def run_cli(script: str, *args: str, database_url: str, stdin: str | None = None) -> Any:
    """Run one of our console scripts (`ledger-admin`, `auth-admin`...) against the stack's DB."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "local"}
    return subprocess.run(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / script), *args], input=stdin, capture_output=True,
        text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


async def admin_token(api: httpx.AsyncClient, database_url: str) -> str:
    """An access token of a fresh admin made with `auth-admin create-admin`, as ops would."""
    email = new_email("admin")
    made = run_cli(
        "auth-admin", "create-admin", "--email", email, "--password-stdin",
        database_url=database_url, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    login = await api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return login.json()["access_token"]


async def mined_user(api: httpx.AsyncClient, localstripe_url: str) -> tuple[str, Any]:
    """An active user with points: one mining session, bought out with an acceleration.
    Returns (access token, the credited points as Decimal)."""
    from decimal import Decimal

    from scifikpi_tools.standins.pay import pay_stripe

    token = (await active_user(api, localstripe_url, deposit_minor=2500))["access_token"]
    started = await api.post("/mining/start", headers=bearer(token))
    assert started.status_code == 201, started.text
    mining = started.json()
    quote = await api.post(
        "/mining/acceleration/quote", json={"seconds": mining["remaining_s"] - 1},
        headers=bearer(token),
    )  # fmt: skip
    if quote.status_code == 201:
        q = quote.json()
        payment = await create_payment(
            api, token, provider="stripe", purpose="acceleration", amount_minor=q["price_minor"],
            currency="USD", quote_id=q["quote_id"],
        )  # fmt: skip
        assert pay_stripe(localstripe_url, payment["provider_payment_id"])["status"] == "succeeded"
    target = Decimal(mining["target_points"])

    async def credited() -> Decimal | None:
        r = await api.get("/balance", headers=bearer(token))
        assert r.status_code == 200, r.text
        available = Decimal(r.json()["points"]["available"])
        return available if available == target else None

    return token, await eventually(credited, timeout_s=90, interval=0.5, what="points credited")
