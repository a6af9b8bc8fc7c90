"""Login benchmark: throughput and latency of POST /auth/login with the chosen argon2 parameters.

    uv run python services/auth/benchmarks/login.py [--concurrency 16] [--duration 10] [--json]

Creates a fresh database (on DATABASE_URL's server, else 127.0.0.1:5432, else an embedded
PostgreSQL), migrates it, starts the auth API (`auth-api`: uvicorn, its own process) on a free
loopback port, registers one user, then N concurrent clients log in as fast as they can for a
bounded time. Prints req/s, p50/p90/p99 latency and the raw argon2id hash/verify time. Everything
stays on 127.0.0.1; the database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from auth.passwords import PasswordHashing
from auth.settings import AuthSettings
from scifikpi_common.migrations import upgrade
from scifikpi_tools.bench.support import percentile, postgres_server
from scifikpi_tools.localinfra import (
    drop_database,
    ensure_database,
    free_port,
    parent_death_signal,
    stop_process,
    wait_for_port,
    with_database,
)

SERVICE_DIR = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PASSWORD = "bench-correct-horse-battery"  # noqa: S105 - a throwaway account in a throwaway database


def argon2_timing(rounds: int) -> dict[str, Any]:
    """Raw hash and verify time with the service's parameters, one at a time, in this process."""
    settings = AuthSettings(environment="local")
    hashing = PasswordHashing.from_settings(settings)
    hashed = hashing.hash_sync(PASSWORD)
    hash_ms, verify_ms = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        hashing.hash_sync(PASSWORD)
        hash_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hashing.verify_sync(hashed, PASSWORD)
        verify_ms.append((time.perf_counter() - start) * 1000)
    return {
        "params": {
            "type": "argon2id",
            "memory_kib": settings.argon2_memory_kib,
            "time_cost": settings.argon2_time_cost,
            "parallelism": settings.argon2_parallelism,
        },
        "max_concurrency": settings.argon2_max_concurrency,
        "hash_ms_median": statistics.median(hash_ms),
        "verify_ms_median": statistics.median(verify_ms),
        "rounds": rounds,
    }


def _start_api(database_url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVIRONMENT": "local",
        "DATABASE_URL": database_url,
        "AUTH_HTTP_HOST": HOST,
        "AUTH_HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        # One client IP sends every request; only failures count, but keep limits out of the way.
        "AUTH_LOGIN_MAX_FAILURES_PER_IP": "1000000",
    }
    script = Path(sys.executable).with_name("auth-api")
    command = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from auth.main import run_api; run_api()"]
    )
    log = log_path.open("wb")
    return subprocess.Popen(  # noqa: S603 - our own entry point
        command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=parent_death_signal
    )


async def _wait_ready(base: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the auth API did not become healthy")
            await asyncio.sleep(0.1)


async def _load(
    base: str, email: str, concurrency: int, duration_s: float, warmup_s: float
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    body = {"email": email, "password": PASSWORD}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:
        start = time.perf_counter()
        measure_from = start + warmup_s
        stop_at = measure_from + duration_s

        async def worker() -> None:
            while True:
                sent = time.perf_counter()
                if sent >= stop_at:
                    return
                try:
                    response = await client.post("/auth/login", json=body)
                    outcome = None if response.status_code == 200 else str(response.status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                done = time.perf_counter()
                if sent >= measure_from and done <= stop_at:
                    if outcome is None:
                        latencies.append((done - sent) * 1000)
                    else:
                        errors[outcome] = errors.get(outcome, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.sort()
    return {
        "concurrency": concurrency,
        "duration_s": duration_s,
        "requests_ok": len(latencies),
        "errors": errors,
        "throughput_rps": len(latencies) / duration_s,
        "latency_ms": {
            "p50": percentile(latencies, 0.50),
            "p90": percentile(latencies, 0.90),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else float("nan"),
        },
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"auth_bench_{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        server_url = await postgres_server(stack, prefix="auth-bench-pg-")
        database_url = with_database(
            await ensure_database(server_url, name), name, driver="postgresql+asyncpg"
        )
        stack.push_async_callback(drop_database, server_url, name)
        await asyncio.to_thread(upgrade, SERVICE_DIR, database_url)

        port = free_port(HOST)
        log_path = Path(tempfile.gettempdir()) / f"{name}-api.log"
        api = _start_api(database_url, port, log_path)
        stack.callback(stop_process, api)
        try:
            await asyncio.to_thread(wait_for_port, HOST, port, 30.0, process=api)
            base = f"http://{HOST}:{port}"
            await _wait_ready(base)
        except Exception:
            print(log_path.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise

        email = f"bench.{uuid.uuid4().hex[:8]}@example.com"
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
            registered = await client.post(
                "/auth/register",
                json={
                    "account_type": "individual",
                    "email": email,
                    "password": PASSWORD,
                    "country": "US",
                    "full_name": "Bench User",
                    "initial_deposit": {"amount_minor": 1000, "currency": "USD"},
                },
            )
            registered.raise_for_status()

        load = await _load(base, email, args.concurrency, args.duration, args.warmup)
        if api.poll() is not None:
            raise RuntimeError(f"the auth API exited with {api.returncode}; log: {log_path}")
    argon2 = await asyncio.to_thread(argon2_timing, args.hash_rounds)
    return {"login": load, "argon2": argon2, "cpus": os.cpu_count()}


def report(result: dict[str, Any]) -> str:
    login, argon2 = result["login"], result["argon2"]
    p = argon2["params"]
    lat = login["latency_ms"]
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(login["errors"].items())) or "none"
    return "\n".join(
        [
            "auth login benchmark (loopback, auth-api in its own process, real Postgres)",
            f"  argon2id m={p['memory_kib']} KiB, t={p['time_cost']}, p={p['parallelism']}; "
            f"{argon2['max_concurrency']} hashes at once per process; {result['cpus']} CPUs",
            f"  raw hash   {argon2['hash_ms_median']:.1f} ms (median of {argon2['rounds']})",
            f"  raw verify {argon2['verify_ms_median']:.1f} ms (median of {argon2['rounds']})",
            f"  {login['concurrency']} concurrent clients for {login['duration_s']:.0f} s: "
            f"{login['requests_ok']} logins, errors: {errors}",
            f"  throughput {login['throughput_rps']:.1f} logins/s",
            f"  latency    p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} ms, "
            f"p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--concurrency", type=int, default=16, help="concurrent clients (default 16)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds (default 10)"
    )
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="unmeasured seconds first (default 1)"
    )
    parser.add_argument(
        "--hash-rounds", type=int, default=10, help="rounds of the raw argon2 timing"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2) if args.json else report(result))


if __name__ == "__main__":
    main()
