"""Analytics freshness on the whole local stack: an event published → visible in
`GET /admin/analytics/summary` through the gateway, at the cabinet bench's load.

    uv run python -m scifikpi_tools.bench.freshness [--rate 20] [--duration 10]
        [--marker-rate 10] [--json]

While the cabinet bench's acceleration chain runs (`--rate` flows per second, each a
PaymentSucceeded → MiningAccelerated + MiningCompleted → PointsCredited, all of which analytics
projects too), markers are published open-loop at `--marker-rate`: PaymentSucceeded purpose=topup
of one bench user, amount 2^k US cents (k cycles over 24 bits; a bit is reused only once its last
marker was seen). Nothing else in the run makes a top-up, so the summary's USD top-up amount,
less the markers already seen, read as bits says exactly which markers are applied. One admin
reads the summary every 50 ms; a marker's freshness runs from just before its publish to the
arrival of the first answer that shows it (an upper bound). Target: p99 ≤ 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

from scifikpi_tools.bench.cabinet import STACK_ENV as CABINET_ENV
from scifikpi_tools.bench.cabinet import WARMUP, Bench, prepare_users, run_chain, settle
from scifikpi_tools.bench.nft import admin_token
from scifikpi_tools.bench.stackproc import separate_stack
from scifikpi_tools.bench.support import percentile

API = "/api/v1"
TARGET_P99_MS = 2000.0
BITS = 24
READ_EVERY_S = 0.05


def topups_usd_minor(summary: dict[str, Any]) -> int:
    """All-time USD top-up money in the summary (every provider)."""
    metric = next(m for m in summary["metrics"] if m["name"] == "payments.topups.amount")
    return sum(
        int(cell["values"]["total"])
        for cell in metric["breakdown"]
        if cell["dimensions"].get("currency") == "USD"
    )


class Markers:
    """Top-up markers whose amounts are distinct powers of two, and when each became visible."""

    def __init__(self, bench: Bench, admin: str, payer: uuid.UUID) -> None:
        self.bench, self.payer = bench, payer
        self.headers = {"Authorization": f"Bearer {admin}"}
        self.seen = 0  # the amount of the markers already seen
        self.out: dict[int, float] = {}  # bit -> when its marker was published (perf_counter)
        self.freed: dict[int, asyncio.Event] = {}  # bit -> set once its marker is seen
        self.freshness_ms: list[float] = []
        self.reads = 0

    async def summary_amount(self) -> int:
        r = await self.bench.client.get(f"{API}/admin/analytics/summary", headers=self.headers)
        r.raise_for_status()
        self.reads += 1
        return topups_usd_minor(r.json())

    async def publish(self, count: int, rate: float) -> None:
        start = time.perf_counter()
        for i in range(count):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            bit = i % BITS
            if bit in self.freed:  # its last marker is not seen yet
                await self.freed[bit].wait()
            self.freed[bit] = asyncio.Event()
            self.out[bit] = time.perf_counter()
            await self.bench.paid(self.payer, "topup", 1 << bit)

    async def watch(self, until_done: asyncio.Task[None]) -> None:
        while not (until_done.done() and not self.out):
            amount = await self.summary_amount()
            arrived = time.perf_counter()
            applied = amount - self.seen
            unexpected = applied & ~sum(1 << b for b in self.out)
            if applied < 0 or unexpected:
                raise RuntimeError(f"top-ups the bench did not make: {applied} ({unexpected:b})")
            for bit in [b for b in self.out if applied & (1 << b)]:
                self.freshness_ms.append((arrived - self.out.pop(bit)) * 1000)
                self.seen += 1 << bit
                self.freed.pop(bit).set()
            await asyncio.sleep(READ_EVERY_S)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    flows = int(args.rate * args.duration)
    markers_n = int(args.marker_rate * args.duration)
    async with separate_stack(CABINET_ENV) as stack, Bench.on(stack) as bench:
        print(f"preparing {flows + WARMUP + 1} users (register, deposit, start, quote)...")
        users = await prepare_users(bench, flows + WARMUP + 1)
        await settle(bench, users[:WARMUP])
        admin = await admin_token(bench.client, stack["database_url"])
        markers = Markers(bench, admin, payer=users[-1][0])
        if await markers.summary_amount() != 0:
            raise RuntimeError("the fresh stack already has top-ups")
        chain = asyncio.create_task(run_chain(bench, users[WARMUP:-1], args.rate))
        publishing = asyncio.create_task(markers.publish(markers_n, args.marker_rate))
        await asyncio.wait_for(markers.watch(publishing), timeout=args.duration + 60)
        await publishing
        chain_ms = await chain
    fresh = sorted(markers.freshness_ms)
    return {
        "markers": len(fresh),
        "marker_rate_per_s": args.marker_rate,
        "summary_reads": markers.reads,
        "p50_ms": percentile(fresh, 0.5),
        "p99_ms": percentile(fresh, 0.99),
        "max_ms": fresh[-1],
        "target_p99_ms": TARGET_P99_MS,
        "load": {
            "flows": len(chain_ms),
            "rate_per_s": args.rate,
            "chain_p50_ms": percentile(chain_ms, 0.5),
            "chain_p99_ms": percentile(chain_ms, 0.99),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="acceleration flows per second")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load and markers")
    parser.add_argument("--marker-rate", type=float, default=10.0, help="markers per second")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    load = result["load"]
    print(
        f"analytics freshness (PaymentSucceeded published -> visible in GET "
        f"/admin/analytics/summary), {result['markers']} markers at "
        f"{result['marker_rate_per_s']:g}/s, {result['summary_reads']} summary reads:\n"
        f"  p50 {result['p50_ms']:.0f} ms  p99 {result['p99_ms']:.0f} ms  max "
        f"{result['max_ms']:.0f} ms  (target p99 <= {TARGET_P99_MS:.0f} ms: "
        f"{'met' if result['p99_ms'] <= TARGET_P99_MS else 'NOT met'})\n"
        f"  under the cabinet load: {load['flows']} acceleration flows at "
        f"{load['rate_per_s']:g}/s, chain p50 {load['chain_p50_ms']:.0f} ms p99 "
        f"{load['chain_p99_ms']:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
