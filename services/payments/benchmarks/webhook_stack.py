"""The stack and data of the webhook benchmark (`webhooks.py`): a broker, the real payments
processes on free loopback ports, seeded pending payments, signed Stripe events, and what the
database says about the backlog and where the time went."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import stripe
from scifikpi_tools.bench.support import percentile
from scifikpi_tools.localinfra import (
    ensure_topics,
    free_port,
    parent_death_signal,
    start_tansu,
    stop_process,
    wait_for_port,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SECRET = "whsec_payments_benchmark"  # noqa: S105 - a throwaway secret for a throwaway stack
TOPIC = "payments.payment.v1"


async def start_broker(stack: AsyncExitStack) -> str:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = start_tansu()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
    await ensure_topics(bootstrap, [TOPIC, f"{TOPIC}.dlq"])
    return bootstrap


def spawn(script: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    path = Path(sys.executable).with_name(script)
    module = script.replace("payments-", "run_")
    command = (
        [str(path)]
        if path.exists()
        else [sys.executable, "-c", f"from payments.main import {module}; {module}()"]
    )
    log = log_path.open("wb")
    return subprocess.Popen(  # noqa: S603 - our own entry points
        command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=parent_death_signal
    )


async def start_processes(
    stack: AsyncExitStack, database_url: str, bootstrap: str, name: str
) -> tuple[str, dict[str, Path]]:
    api_port = free_port(HOST)
    base_env = {
        **os.environ,
        "ENVIRONMENT": "local",
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LOG_LEVEL": "WARNING",
        "PAYMENTS_STRIPE_WEBHOOK_SECRET": SECRET,
        "PAYMENTS_HTTP_HOST": HOST,
        "PAYMENTS_HTTP_PORT": str(api_port),
        # the seeded payments are not at any provider: keep reconciliation away from them
        "PAYMENTS_RECONCILE_MIN_AGE_S": "86400",
        "PAYMENTS_DB_POOL_SIZE": "20",
    }
    logs: dict[str, Path] = {}
    for script in ("payments-api", "payments-scheduler", "payments-relay"):
        env = {**base_env, "PAYMENTS_METRICS_PORT": str(free_port(HOST))}
        logs[script] = Path(tempfile.gettempdir()) / f"{name}-{script}.log"
        process = spawn(script, env, logs[script])
        stack.callback(stop_process, process)
    try:
        await asyncio.to_thread(wait_for_port, HOST, api_port, 30.0)
    except Exception:
        for path in logs.values():
            print(path.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise
    return f"http://{HOST}:{api_port}", logs


async def seed(database_url: str, count: int, prefix: str) -> list[tuple[str, str, str]]:
    """`count` pending Stripe payments; returns (payment id, user id, PaymentIntent id)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch(
            """
            INSERT INTO payments.payments (id, user_id, idempotency_key, request_fingerprint,
                purpose, provider, amount_minor, currency, status, provider_payment_id,
                provider_status, next_check_at)
            SELECT gen_random_uuid(), gen_random_uuid(), 'bench-' || g, 'bench', 'topup',
                   'stripe', 1000, 'USD', 'pending', $1 || g, 'requires_payment_method',
                   now() + interval '1 day'
            FROM generate_series(1, $2) AS g
            RETURNING id::text, user_id::text, provider_payment_id
            """,
            f"pi_{prefix}_",
            count,
        )
    finally:
        await conn.close()
    return [(r[0], r[1], r[2]) for r in rows]


def signed(payment: tuple[str, str, str]) -> tuple[bytes, dict[str, str]]:
    payment_id, user_id, pi_id = payment
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "type": "payment_intent.succeeded",
        "livemode": False,
        "data": {
            "object": {
                "id": pi_id,
                "object": "payment_intent",
                "amount": 1000,
                "currency": "usd",
                "status": "succeeded",
                "client_secret": f"{pi_id}_secret_bench",
                "metadata": {"payment_id": payment_id, "user_id": user_id, "purpose": "topup"},
            }
        },
    }
    body = orjson.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


async def backlog(database_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM payments.provider_events WHERE processed_at IS NULL"
        )
        outbox = await conn.fetchval(
            "SELECT count(*) FROM payments.outbox WHERE published_at IS NULL"
        )
    finally:
        await conn.close()
    return int(events), int(outbox)


async def drain(database_url: str, timeout_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if await backlog(database_url) == (0, 0):
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"backlog not drained in {timeout_s}s: {await backlog(database_url)}")


async def stages(database_url: str, payment_ids: list[str]) -> dict[str, Any]:
    """Where the time went, from the database's own clock: stored -> processed (scheduler),
    outbox row -> published (relay)."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        scheduler = await conn.fetch(
            "SELECT extract(epoch FROM processed_at - received_at) * 1000 AS ms "
            "FROM payments.provider_events WHERE payment_id = ANY($1::uuid[])",
            payment_ids,
        )
        relay = await conn.fetch(
            "SELECT extract(epoch FROM published_at - created_at) * 1000 AS ms "
            "FROM payments.outbox WHERE payload->'payload'->>'payment_id' = ANY($1::text[])",
            payment_ids,
        )
    finally:
        await conn.close()
    out = {}
    for name, rows in (("stored_to_processed_ms", scheduler), ("outbox_to_kafka_ms", relay)):
        values = sorted(float(r["ms"]) for r in rows if r["ms"] is not None)
        out[name] = {"p50": percentile(values, 0.5), "p99": percentile(values, 0.99)}
    return out
