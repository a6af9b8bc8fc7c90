"""NFT purchase saga benchmark on the whole local stack: `POST /nft/purchases` → `completed`
latency through the gateway at a steady rate.

    uv run python -m scifikpi_tools.bench.nft [--rate 5] [--duration 10] [--json]

It starts the stack as the e2e tests do (every process, the local emulated TON chain, Tansu or
KAFKA_BOOTSTRAP_SERVERS, a fresh database). Buyers get points the way the cabinet bench gives them
(register, deposit, a mining session bought out by an acceleration `PaymentSucceeded`). Then
purchases start open-loop at `--rate` per second, each by a different buyer; a purchase's latency
runs from the POST to the moment `GET /nft/purchases/{id}` (read every 20 ms) says `completed`:
nft (supply, outbox) → relay → ledger hold (`PointsReserved`) → relay → nft worker (reserved,
NOTIFY) → chain engine (index, sign, store, send, emulate, confirm on chain) → completed.
The ledger's capture (`NftMinted` → `PointsDebited`) follows after it and is not in the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from scifikpi_tools.bench.cabinet import API, PASSWORD, Bench
from scifikpi_tools.bench.stackproc import separate_stack
from scifikpi_tools.bench.support import percentile

STACK_ENV = {"MINING_SESSION_DURATION_S": "3600"}
WARMUP = 10
SETTLED_MS = 1000.0
POLL_S = 0.02


async def _buyer(bench: Bench) -> str:
    """An active user holding a whole mining session's points."""
    user_id, token = await bench.active_user()
    quote = await bench.started_with_quote(token)
    await bench.flow(user_id, token, quote)
    return token


async def admin_token(client: httpx.AsyncClient, database_url: str) -> str:
    """A fresh admin made with `auth-admin create-admin`, as ops would, then logged in."""
    email = f"bench.admin.{uuid.uuid4().hex[:12]}@example.com"
    made = await asyncio.to_thread(
        subprocess.run,
        [
            str(Path(sys.executable).parent / "auth-admin"),
            "create-admin",
            "--email",
            email,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "local"},
    )
    if made.returncode != 0:
        raise RuntimeError(f"auth-admin create-admin failed: {made.stderr}")
    r = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


async def _item(client: httpx.AsyncClient, database_url: str, supply: int) -> str:
    """A catalog item, created by an admin through the gateway."""
    token = await admin_token(client, database_url)
    r = await client.post(
        f"{API}/admin/nft/catalog",
        json={
            "name": "Bench Probe",
            "image_url": "https://cdn.example.com/nft/probe.png",
            "price_points": "0.000001",
            "supply_total": supply,
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    return str(r.json()["id"])


async def _purchase(client: httpx.AsyncClient, token: str, item_id: str) -> float:
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    r = await client.post(
        f"{API}/nft/purchases",
        json={"catalog_item_id": item_id},
        headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    r.raise_for_status()
    purchase_id = r.json()["id"]
    deadline = started + 60
    while time.perf_counter() < deadline:
        r = await client.get(f"{API}/nft/purchases/{purchase_id}", headers=headers)
        status = r.json()["status"] if r.status_code == 200 else None
        if status == "completed":
            return (time.perf_counter() - started) * 1000
        if status == "failed":
            raise RuntimeError(f"purchase {purchase_id} failed: {r.json()}")
        await asyncio.sleep(POLL_S)
    raise RuntimeError(f"purchase {purchase_id} not completed within 60 s")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n = int(args.rate * args.duration)
    async with separate_stack(STACK_ENV) as stack, Bench.on(stack) as bench:
        client = bench.client
        gate = asyncio.Semaphore(8)

        async def buyer() -> str:
            async with gate:
                return await _buyer(bench)

        print(f"preparing {n + WARMUP} buyers (register, deposit, mine)...")
        buyers = await asyncio.gather(*(buyer() for _ in range(n + WARMUP)))
        item_id = await _item(client, stack["database_url"], n + WARMUP)
        for i, token in enumerate(buyers[:WARMUP]):
            took = await _purchase(client, token, item_id)
            if took < SETTLED_MS:
                print(f"saga settled after {i + 1} warm-up purchase(s) ({took:.0f} ms)")
                break

        async def at(delay: float, token: str) -> float:
            await asyncio.sleep(delay)
            return await _purchase(client, token, item_id)

        latencies = sorted(
            await asyncio.gather(*(at(i / args.rate, t) for i, t in enumerate(buyers[WARMUP:])))
        )
    return {
        "purchases": len(latencies),
        "rate_per_s": args.rate,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0, help="purchases per second")
    parser.add_argument("--duration", type=int, default=10, help="seconds of purchases")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    r = asyncio.run(run(args))
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(
        f"NFT purchase saga (POST /nft/purchases -> completed, minted on the local chain), "
        f"{r['purchases']} purchases at {r['rate_per_s']:g}/s:\n  p50 {r['p50_ms']:.1f} ms  "
        f"p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
