"""Helpers of the end-to-end tests (request bodies, problem checks, Kafka reads)."""

from __future__ import annotations

import uuid
from typing import Any

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
