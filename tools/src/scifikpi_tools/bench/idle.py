"""What the idle local stack costs: CPU per process with nothing happening.

    uv run python -m scifikpi_tools.bench.idle [--fetch-waits 20,100,250] [--settle 40]
        [--window 30] [--json]

For each consumer fetch wait (`KAFKA_FETCH_MAX_WAIT_MS`) it starts the whole test stack in its
own process (bench/stackproc.py: every service process, its own Tansu, a fresh database), waits
`--settle` seconds for the consumer groups to join, then samples the CPU time of every process of
the stack (psutil) over `--window` seconds and prints each process's share of one core, the
total, and the share of the machine's cores. Side by side in one run, with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from scifikpi_tools.bench.stackproc import separate_stack


def _label(proc: psutil.Process) -> str:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    words = [os.path.basename(a) for a in cmd[:4] if not a.startswith("-")]
    if words and words[0].startswith("python"):
        words = words[1:]
    return " ".join(words[:2])[:40] or proc.name()


def _stack_processes(root_pid: int) -> list[psutil.Process]:
    root = psutil.Process(root_pid)
    return [root, *root.children(recursive=True)]


def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    out: dict[int, float] = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


async def _measure(fetch_wait_ms: int, settle_s: float, window_s: float) -> dict[str, Any]:
    env = {"KAFKA_FETCH_MAX_WAIT_MS": str(fetch_wait_ms)}
    before_children = {p.pid for p in psutil.Process().children()}
    async with separate_stack(env):
        (child,) = [p for p in psutil.Process().children() if p.pid not in before_children]
        await asyncio.sleep(settle_s)
        procs = _stack_processes(child.pid)
        start = _cpu(procs)
        t0 = time.monotonic()
        await asyncio.sleep(window_s)
        end = _cpu(procs)
        elapsed = time.monotonic() - t0
    rows: dict[str, float] = {}
    for p in procs:
        if p.pid in start and p.pid in end:
            label = _label(p)
            rows[label] = rows.get(label, 0.0) + (end[p.pid] - start[p.pid]) / elapsed * 100
    total = sum(rows.values())
    return {
        "fetch_max_wait_ms": fetch_wait_ms,
        "window_s": round(elapsed, 1),
        "total_pct_of_one_core": round(total, 1),
        "pct_of_machine": round(total / (psutil.cpu_count() or 1), 1),
        "processes": {k: round(v, 2) for k, v in sorted(rows.items(), key=lambda kv: -kv[1])},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scifikpi_tools.bench.idle")
    parser.add_argument("--fetch-waits", default="20,100,250", help="KAFKA_FETCH_MAX_WAIT_MS list")
    parser.add_argument("--settle", type=float, default=40.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    for wait in (int(w) for w in args.fetch_waits.split(",")):
        results.append(asyncio.run(_measure(wait, args.settle, args.window)))
    if args.json:
        print(json.dumps(results))
    else:
        labels = sorted({k for r in results for k in r["processes"]})
        head = "".join(f"{'wait=' + str(r['fetch_max_wait_ms']) + 'ms':>14}" for r in results)
        print(f"{'process (% of one core)':<42}{head}")
        for label in labels:
            cells = "".join(f"{r['processes'].get(label, 0.0):>14.2f}" for r in results)
            print(f"{label:<42}{cells}")
        print(f"{'TOTAL':<42}" + "".join(f"{r['total_pct_of_one_core']:>14.1f}" for r in results))
        print(
            f"{'% of the machine':<42}" + "".join(f"{r['pct_of_machine']:>14.1f}" for r in results)
        )
    print(f"loadavg {Path('/proc/loadavg').read_text().strip()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
