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

import httpx
from aiokafka import AIOKafkaConsumer
from scifikpi_common.migrations import upgrade
from scifikpi_tools.bench.support import percentile, postgres_server
from scifikpi_tools.localinfra import drop_database, ensure_database, with_database
from webhook_stack import (
    SERVICE_DIR,
    TOPIC,
    drain,
    seed,
    signed,
    stages,
    start_broker,
    start_processes,
)

# ------------------------------------------------------------------------------ phases


async def _throughput(
    base: str, payments: list[tuple[str, str, str]], concurrency: int, duration_s: float
) -> dict[str, Any]:
    # Sign up front (each body is distinct and valid for 300 s) so the clients only send.
    requests = [signed(p) for p in payments]
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
                body, headers = signed(payment)
                out.write(f"bodies[{i}] = {json.dumps(body.decode())}\n")
                out.write(f"sigs[{i}] = {json.dumps(headers['Stripe-Signature'])}\n")
        script = Path(tmp) / "webhooks.lua"
        script.write_text(WRK_SCRIPT)
        threads = 2
        result = await asyncio.to_thread(
            subprocess.run,
            [
                wrk,
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{duration_s:.0f}s",
                "-s",
                str(script),
                base,
                "--",
                str(threads),
                str(data),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration_s + 120,
        )
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

    requests = [(p[0], *signed(p)) for p in payments]
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


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"payments_bench_{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        server_url = await postgres_server(stack, prefix="payments-bench-pg-")
        database_url = with_database(
            await ensure_database(server_url, name), name, driver="postgresql+asyncpg"
        )
        stack.push_async_callback(drop_database, server_url, name)
        await asyncio.to_thread(upgrade, SERVICE_DIR, database_url)
        bootstrap = await start_broker(stack)
        base, logs = await start_processes(stack, database_url, bootstrap, name)
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(100):
                if (await client.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # scheduler LISTEN and relay lock taken

        most = int(args.duration * args.max_rate)
        throughput_set = await seed(database_url, most, "tp")
        wrk = shutil.which("wrk")
        if wrk and not args.python_client:
            throughput = await _throughput_wrk(
                wrk, base, throughput_set, args.concurrency, args.duration
            )
        else:
            throughput = await _throughput(base, throughput_set, args.concurrency, args.duration)
        throughput["drain_s"] = await drain(database_url, timeout_s=300)
        accepted = throughput["accepted"]
        throughput["end_to_end_per_s"] = accepted / (throughput["seconds"] + throughput["drain_s"])

        latency_set = await seed(database_url, int(args.rate * args.latency_duration), "lat")
        latency = await _latency(base, bootstrap, latency_set, args.rate)
        latency["stages"] = await stages(database_url, [p[0] for p in latency_set])
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
