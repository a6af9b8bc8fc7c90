"""Webhook benchmark: signed Stripe webhooks accepted per second, and the latency from a webhook
POST to its `PaymentSucceeded` on Kafka at a steady load.

    uv run python services/payments/benchmarks/webhooks.py [--concurrency 32] [--duration 10]
        [--rate 50] [--latency-duration 10] [--json]

Creates a fresh database (DATABASE_URL's server, else 127.0.0.1:5432, else an embedded
PostgreSQL), migrates it, uses KAFKA_BOOTSTRAP_SERVERS or starts a Tansu broker, and starts the
real processes on free loopback ports: `payments-api` (uvicorn), `payments-scheduler` (stored
events -> payment state -> outbox) and `payments-relay` (outbox -> Kafka). Pending Stripe payments
are seeded in the database (no provider call is measured), then:

1. throughput: N concurrent connections (wrk when installed, `make bench` installs it; else an
   httpx client, which is itself the bottleneck) POST distinct, correctly signed
   `payment_intent.succeeded` events for `--duration` seconds; counts 200s per second (each one
   verified on the raw body, stored once, acknowledged). Then waits until the scheduler and
   relay have drained that backlog and reports how long that took (end-to-end processing rate).
2. latency: `--rate` webhooks per second for `--latency-duration` seconds (one new payment each);
   a Kafka consumer stamps each `PaymentSucceeded`; prints p50/p90/p99 of POST-sent -> on-Kafka.

Bounded in time and count; everything stays on 127.0.0.1; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import stripe
from aiokafka import AIOKafkaConsumer
from scifikpi_common.migrations import upgrade
from scifikpi_tools.bench.support import percentile, postgres_server
from scifikpi_tools.localinfra import (
    drop_database,
    ensure_database,
    ensure_topics,
    free_port,
    parent_death_signal,
    start_tansu,
    stop_process,
    wait_for_port,
    with_database,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SECRET = "whsec_payments_benchmark"  # noqa: S105 - a throwaway secret for a throwaway stack
TOPIC = "payments.payment.v1"


# ------------------------------------------------------------------------------ the stack


async def _broker(stack: AsyncExitStack) -> str:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = start_tansu()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap
    await ensure_topics(bootstrap, [TOPIC, f"{TOPIC}.dlq"])
    return bootstrap


def _spawn(script: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
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


async def _start_processes(
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
        process = _spawn(script, env, logs[script])
        stack.callback(stop_process, process)
    try:
        await asyncio.to_thread(wait_for_port, HOST, api_port, 30.0)
    except Exception:
        for path in logs.values():
            print(path.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise
    return f"http://{HOST}:{api_port}", logs


async def _seed(database_url: str, count: int, prefix: str) -> list[tuple[str, str, str]]:
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


def _signed(payment: tuple[str, str, str]) -> tuple[bytes, dict[str, str]]:
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
                "id": pi_id, "object": "payment_intent", "amount": 1000, "currency": "usd",
                "status": "succeeded", "client_secret": f"{pi_id}_secret_bench",
                "metadata": {"payment_id": payment_id, "user_id": user_id, "purpose": "topup"},
            }
        },
    }  # fmt: skip
    body = orjson.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), SECRET)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


async def _backlog(database_url: str) -> tuple[int, int]:
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


# ------------------------------------------------------------------------------ phases


async def _throughput(
    base: str, payments: list[tuple[str, str, str]], concurrency: int, duration_s: float
) -> dict[str, Any]:
    # Sign up front (each body is distinct and valid for 300 s) so the clients only send.
    requests = [_signed(p) for p in payments]
    next_index = 0
    ok = 0
    latencies: list[float] = []
    errors: dict[str, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:
        started = time.perf_counter()
        stop_at = started + duration_s

        async def worker() -> None:
            nonlocal next_index, ok
            while time.perf_counter() < stop_at and next_index < len(requests):
                body, headers = requests[next_index]
                next_index += 1
                sent = time.perf_counter()
                try:
                    r = await client.post(
                        "/payments/webhooks/stripe", content=body, headers=headers
                    )
                    outcome = None if r.status_code == 200 else str(r.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                if outcome is None:
                    ok += 1
                    latencies.append((time.perf_counter() - sent) * 1000)
                else:
                    errors[outcome] = errors.get(outcome, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "client": "httpx",
        "concurrency": concurrency,
        "seconds": elapsed,
        "accepted": ok,
        "errors": errors,
        "accepted_per_s": ok / elapsed,
        "ack_latency_ms": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
    }


WRK_SCRIPT = """
counter = 0
threads = {}
setup = function(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
init = function(args)
  nthreads = tonumber(args[1])
  dofile(args[2])
end
request = function()
  local i = (counter * nthreads + tid) % #bodies + 1
  counter = counter + 1
  wrk.headers["Stripe-Signature"] = sigs[i]
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/payments/webhooks/stripe", nil, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99), latency.max))
end
"""


async def _throughput_wrk(
    wrk: str, base: str, payments: list[tuple[str, str, str]], concurrency: int, duration_s: float
) -> dict[str, Any]:
    """The same load from wrk (a C client): the Python client would be the bottleneck."""
    with tempfile.TemporaryDirectory(prefix="payments-bench-wrk-") as tmp:
        data = Path(tmp) / "bodies.lua"
        with data.open("w") as out:
            out.write("bodies = {}\nsigs = {}\n")
            for i, payment in enumerate(payments, start=1):
                body, headers = _signed(payment)
                out.write(f"bodies[{i}] = {json.dumps(body.decode())}\n")
                out.write(f"sigs[{i}] = {json.dumps(headers['Stripe-Signature'])}\n")
        script = Path(tmp) / "webhooks.lua"
        script.write_text(WRK_SCRIPT)
        threads = 2
        result = await asyncio.to_thread(
            subprocess.run,
            [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{duration_s:.0f}s", "-s", str(script),
             base, "--", str(threads), str(data)],
            capture_output=True, text=True, check=True, timeout=duration_s + 120,
        )  # fmt: skip
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("WRK "))
    requests, duration_us, sock_errors, status_errors, p50, p99, _ = map(int, line.split()[1:])
    accepted = requests - status_errors - sock_errors
    seconds = duration_us / 1e6
    return {
        "client": "wrk",
        "concurrency": concurrency,
        "seconds": seconds,
        "accepted": accepted,
        "errors": {k: v for k, v in (("socket", sock_errors), ("non-2xx", status_errors)) if v},
        "accepted_per_s": accepted / seconds,
        "ack_latency_ms": {"p50": p50 / 1000, "p99": p99 / 1000},
    }


async def _drain(database_url: str, timeout_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if await _backlog(database_url) == (0, 0):
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"backlog not drained in {timeout_s}s: {await _backlog(database_url)}")


async def _latency(
    base: str, bootstrap: str, payments: list[tuple[str, str, str]], rate: float
) -> dict[str, Any]:
    wanted = {p[0] for p in payments}
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,  # measure our pipeline, not the consumer's long poll
    )
    await consumer.start()
    while not consumer.assignment():  # positions fixed before the first webhook is sent
        await consumer.getmany(timeout_ms=200)
    for tp in consumer.assignment():
        await consumer.position(tp)

    async def consume() -> None:
        while len(seen_at) < len(wanted):
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                now = time.perf_counter()
                for m in messages:
                    envelope = json.loads(m.value)
                    pid = envelope["payload"].get("payment_id")
                    if envelope["event_type"] == "PaymentSucceeded" and pid in wanted:
                        seen_at.setdefault(pid, now)

    requests = [(p[0], *_signed(p)) for p in payments]
    errors = 0
    reader = asyncio.create_task(consume())
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
            interval = 1.0 / rate
            started = time.perf_counter()
            tasks = []

            async def send(pid: str, body: bytes, headers: dict[str, str]) -> None:
                nonlocal errors
                sent_at[pid] = time.perf_counter()
                r = await client.post("/payments/webhooks/stripe", content=body, headers=headers)
                if r.status_code != 200:
                    errors += 1

            for i, (pid, body, headers) in enumerate(requests):
                delay = started + i * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(pid, body, headers)))
            await asyncio.gather(*tasks)
        await asyncio.wait_for(reader, timeout=60)
    finally:
        reader.cancel()
        await consumer.stop()
    latencies = sorted((seen_at[p] - sent_at[p]) * 1000 for p in seen_at)
    return {
        "rate_per_s": rate,
        "webhooks": len(requests),
        "errors": errors,
        "on_kafka": len(seen_at),
        "latency_ms": {
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else float("nan"),
        },
    }


async def _stages(database_url: str, payment_ids: list[str]) -> dict[str, Any]:
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"payments_bench_{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        server_url = await postgres_server(stack, prefix="payments-bench-pg-")
        database_url = with_database(
            await ensure_database(server_url, name), name, driver="postgresql+asyncpg"
        )
        stack.push_async_callback(drop_database, server_url, name)
        await asyncio.to_thread(upgrade, SERVICE_DIR, database_url)
        bootstrap = await _broker(stack)
        base, logs = await _start_processes(stack, database_url, bootstrap, name)
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(100):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # scheduler LISTEN and relay lock taken

        most = int(args.duration * args.max_rate)
        throughput_set = await _seed(database_url, most, "tp")
        wrk = shutil.which("wrk")
        if wrk and not args.python_client:
            throughput = await _throughput_wrk(
                wrk, base, throughput_set, args.concurrency, args.duration
            )
        else:
            throughput = await _throughput(base, throughput_set, args.concurrency, args.duration)
        throughput["drain_s"] = await _drain(database_url, timeout_s=300)
        accepted = throughput["accepted"]
        throughput["end_to_end_per_s"] = accepted / (throughput["seconds"] + throughput["drain_s"])

        latency_set = await _seed(database_url, int(args.rate * args.latency_duration), "lat")
        latency = await _latency(base, bootstrap, latency_set, args.rate)
        latency["stages"] = await _stages(database_url, [p[0] for p in latency_set])
        for script, path in logs.items():
            text = path.read_text(errors="replace").replace("ClientDisconnect", "")
            if "Traceback" in text and "Error" in text:
                print(f"note: {script} logged a traceback ({path})", file=sys.stderr)
    return {"throughput": throughput, "latency": latency, "cpus": os.cpu_count()}


def report(result: dict[str, Any]) -> str:
    tp, lat = result["throughput"], result["latency"]
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(tp["errors"].items())) or "none"
    ms = lat["latency_ms"]
    return "\n".join(
        [
            "payments webhook benchmark (loopback; payments-api, -scheduler, -relay as their own "
            f"processes; real Postgres and broker; {result['cpus']} CPUs)",
            f"  signed Stripe webhooks accepted: {tp['accepted_per_s']:.0f}/s "
            f"({tp['accepted']} in {tp['seconds']:.1f} s, {tp['concurrency']} connections from "
            f"{tp['client']}, "
            f"errors: {errors}); ack p50 {tp['ack_latency_ms']['p50']:.1f} ms, "
            f"p99 {tp['ack_latency_ms']['p99']:.1f} ms",
            f"  backlog processed and published {tp['drain_s']:.1f} s after the last webhook "
            f"(end to end {tp['end_to_end_per_s']:.0f} payments/s)",
            f"  webhook POST -> PaymentSucceeded on Kafka at {lat['rate_per_s']:.0f}/s "
            f"({lat['on_kafka']}/{lat['webhooks']} seen, errors: {lat['errors']}): "
            f"p50 {ms['p50']:.1f} ms, p90 {ms['p90']:.1f} ms, p99 {ms['p99']:.1f} ms, "
            f"max {ms['max']:.1f} ms",
            "    of which: webhook stored -> processed p50 "
            f"{lat['stages']['stored_to_processed_ms']['p50']:.1f} ms "
            f"(p99 {lat['stages']['stored_to_processed_ms']['p99']:.1f}); outbox row -> published "
            f"p50 {lat['stages']['outbox_to_kafka_ms']['p50']:.1f} ms "
            f"(p99 {lat['stages']['outbox_to_kafka_ms']['p99']:.1f})",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32, help="throughput clients (32)")
    parser.add_argument("--duration", type=float, default=10.0, help="throughput seconds (10)")
    parser.add_argument(
        "--max-rate", type=float, default=3000.0, help="upper bound of webhooks/s to seed for"
    )
    parser.add_argument("--rate", type=float, default=50.0, help="steady webhooks/s (50)")
    parser.add_argument(
        "--latency-duration", type=float, default=10.0, help="steady-load seconds (10)"
    )
    parser.add_argument(
        "--python-client", action="store_true", help="send with httpx even if wrk is installed"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
