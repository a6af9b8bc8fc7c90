"""Stepped load test with the frontend's users; prints the capacity and writes a report.

    python -m scifikpi_tools.load                   # a fresh local stack of its own
    python -m scifikpi_tools.load --running         # the `make run` stack (.local/stack.env)
    python -m scifikpi_tools.load --url URL [--database-url DSN] [--localstripe-url URL]
        [--yookassa-url URL] [--kafka HOST:PORT]
    options: --steps 10,20,40,80 --step-seconds 30 --spawn-rate 5 --converge-seconds 90
             --out DIR (default .local/load/<UTC timestamp>)

Each step runs its users for --step-seconds after they have spawned; a step holds when every
kind of request kept its p99 target (`figures.TARGETS_MS`) with zero errors. After the last step
the users stop and every flow they started must converge within --converge-seconds, and
`ledger-admin check` must be clean; the exit code says whether both held (0) or not (1).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from scifikpi_tools.load import report
from scifikpi_tools.load.stack import API, STACK_ENV, Target, fresh_stack, running_stack
from scifikpi_tools.stackenv import add_target_arguments

#: the catalog item the users buy: cheap enough for any credited session, supply for everyone
ITEM_PRICE = "0.000001"
ITEM_SUPPLY = 100_000


async def _catalog_item(target: Target) -> str | None:
    """A catalog item made by an admin (`auth-admin create-admin`) through the gateway; without
    the database, an item already on sale, if any."""
    from scifikpi_tools.bench.nft import admin_token

    async with httpx.AsyncClient(base_url=target.gateway_url, timeout=30) as client:
        if target.database_url:
            token = await admin_token(client, target.database_url)
            r = await client.post(
                f"{API}/admin/nft/catalog",
                json={"name": "Load Probe", "image_url": "https://cdn.example.com/nft/load.png",
                      "price_points": ITEM_PRICE, "supply_total": ITEM_SUPPLY},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            r.raise_for_status()
            return str(r.json()["id"])
        items = (await client.get(f"{API}/nft/catalog", params={"limit": 100})).json()["items"]
        cheap = [i for i in items if i.get("supply_left", 0) > 0]
        return str(cheap[0]["id"]) if cheap else None


def _run(target: Target, args: argparse.Namespace) -> dict[str, Any]:
    item_id = asyncio.run(_catalog_item(target))
    # locust patches the process for gevent on import: only now that the asyncio part is done
    from scifikpi_tools.load.converge import converge
    from scifikpi_tools.load.runner import run_steps
    from scifikpi_tools.load.users import Shared

    Shared.item_id = item_id
    steps = run_steps(target, args.steps, step_seconds=args.step_seconds,
                      spawn_rate=args.spawn_rate)  # fmt: skip
    print(f"load stopped; waiting for the chain to converge (up to {args.converge_seconds} s)...")
    price_micro = round(float(ITEM_PRICE) * 1_000_000)
    convergence = converge(
        target.gateway_url,
        Shared.flows,
        price_micro=price_micro,
        limit_s=args.converge_seconds,
        database_url=target.database_url,
    )
    verdict = report.summary(steps, convergence)
    meta = {
        "gateway_url": target.gateway_url, "steps": args.steps, "step_seconds": args.step_seconds,
        "spawn_rate": args.spawn_rate, "cpus": os.cpu_count(),
        "started_at": args.started_at, "finished_at": dt.datetime.now(dt.UTC).isoformat(),
    }  # fmt: skip
    page = report.write(args.out, steps, verdict, meta)
    print(report.text(steps, verdict))
    print(f"report: {page} (charts {args.out / 'load.png'}, figures {args.out / 'report.json'})")
    return verdict


def _steps(value: str) -> list[int]:
    steps = [int(v) for v in value.split(",") if v.strip()]
    if not steps or any(s <= 0 for s in steps) or steps != sorted(steps):
        raise argparse.ArgumentTypeError("increasing positive user counts, e.g. 10,20,40")
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scifikpi_tools.load", description=__doc__.splitlines()[0]
    )
    add_target_arguments(parser)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="with --url: the stack's database (admin, ledger check, connections)",
    )
    parser.add_argument("--localstripe-url", default="http://127.0.0.1:8420")
    parser.add_argument("--yookassa-url", default="http://127.0.0.1:8421")
    parser.add_argument("--kafka", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"),
                        help="with --url: the stack's broker, for consumer lag")  # fmt: skip
    parser.add_argument("--steps", type=_steps, default=_steps("10,20,40,80"))
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started per second")
    parser.add_argument("--converge-seconds", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    args.started_at = now.isoformat()
    args.out = args.out or Path(".local/load") / now.strftime("%Y%m%dT%H%M%SZ")
    started = time.monotonic()
    if args.url:
        target = Target(args.url.rstrip("/"), args.localstripe_url, args.yookassa_url,
                        args.database_url, args.kafka)  # fmt: skip
        verdict = _run(target, args)
    elif args.running:
        verdict = _run(running_stack(Path(args.running)), args)
    else:
        print("starting a fresh local stack...", flush=True)
        with fresh_stack(STACK_ENV) as target:
            verdict = _run(target, args)
    conv = verdict["convergence"]
    print(f"load: {time.monotonic() - started:.0f} s; " + json.dumps({
        "capacity_users": verdict["capacity"]["users"], "converged": conv["ok"],
        "ledger_ok": conv["ledger_ok"],
    }))  # fmt: skip
    return 0 if conv["ok"] and conv["ledger_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
