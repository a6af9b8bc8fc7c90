"""Consumption stall per worker restart, dynamic vs static group membership.

    uv run python -m scifikpi_tools.bench.rebalance [--restarts 3] [--workers 2] [--topics 4]
        [--modes dynamic,static,static-per-topic-group] [--signals kill,term] [--json]

For each mode it starts its own Tansu broker (scifikpi_tools.localinfra, as the project's scripts
do; or STACK_KAFKA_BOOTSTRAP_SERVERS), `--topics` topics of `--partitions` partitions, and
`--workers` worker processes of one service, each subscribing to every topic with exactly the
options `EventConsumers.attach` gives a service worker (`subscription_options`). A steady stream
(`--rate` per second per partition) goes to every partition. Then, `--restarts` times, worker 0
gets SIGKILL (or SIGTERM) and is started again at once, as a pod's container would be.

The stall of a partition is the longest gap, from the signal on, between the consumption of two
consecutive messages of it (the first gap counts from the signal); the run ends when every
partition has consumed what was published in the second after the restarted worker rejoined.
Printed per mode and signal, p50 and max over the restarts: the stall of the worst partition and
of the worst partition the survivors were consuming (a rebalance stops theirs too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scifikpi_tools.bench.support import percentile

SERVICE = "benchsvc"
MODES = ("dynamic", "static", "static-per-topic-group")


@dataclass
class _Stream:
    """What was published and when each message was first consumed, by whom."""

    published: dict[int, tuple[str, int, float]] = field(default_factory=dict)
    consumed: dict[int, tuple[float, int]] = field(default_factory=dict)

    def note(self, line: str, worker: int) -> None:
        ts, seq = line.split()
        seq_i = int(seq)
        if seq_i not in self.consumed:
            self.consumed[seq_i] = (float(ts), worker)

    def stall(self, since: float, until: float, skip: set[tuple[str, int]]) -> float:
        """Longest consumption gap of any partition not in `skip`, from `since` to `until`."""
        times: dict[tuple[str, int], list[float]] = {}
        for seq, (topic, part, _) in self.published.items():
            got = self.consumed.get(seq)
            if got and since <= got[0] <= until and (topic, part) not in skip:
                times.setdefault((topic, part), []).append(got[0])
        worst = 0.0
        for ts in times.values():
            ts.sort()
            gaps = [ts[0] - since] + [b - a for a, b in zip(ts, ts[1:], strict=False)]
            worst = max(worst, *gaps)
        return worst

    def latencies(self, since: float, until: float) -> list[float]:
        """Publish -> first consumption, ms, of what was published from `since` to `until`."""
        return sorted(
            (self.consumed[seq][0] - ts) * 1000
            for seq, (_, _, ts) in self.published.items()
            if since <= ts <= until and seq in self.consumed
        )

    def owners(self, since: float) -> dict[tuple[str, int], int]:
        """Which worker consumed each partition last before `since`."""
        last: dict[tuple[str, int], tuple[float, int]] = {}
        for seq, (ts, worker) in self.consumed.items():
            topic, part, _ = self.published[seq]
            if ts < since and ts >= last.get((topic, part), (0.0, -1))[0]:
                last[(topic, part)] = (ts, worker)
        return {tp: w for tp, (_, w) in last.items()}

    def caught_up(self, published_after: float, partitions: int) -> bool:
        """Every partition consumed something published after `published_after`."""
        seen = {
            (t, p)
            for seq, (t, p, ts) in self.published.items()
            if ts >= published_after and seq in self.consumed
        }
        return len(seen) >= partitions


class _Worker:
    """One worker child process; its stdout lines are consumptions."""

    def __init__(self, index: int, argv: list[str], stream: _Stream) -> None:
        self.index = index
        self.argv = argv
        self.stream = stream
        self.proc: asyncio.subprocess.Process | None = None
        self.joined = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.joined = asyncio.Event()
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode().strip()
            if line == "started":
                continue
            self.stream.note(line, self.index)
            self.joined.set()

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(sig)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self._reader:
            await self._reader


async def _publish(
    bootstrap: str,
    topics: list[str],
    partitions: int,
    rate: float,
    stream: _Stream,
    stop: asyncio.Event,
) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    seq = 0
    try:
        while not stop.is_set():
            tick = time.monotonic()
            for topic in topics:
                for part in range(partitions):
                    seq += 1
                    stream.published[seq] = (topic, part, time.time())
                    await producer.send(topic, str(seq).encode(), partition=part)
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - tick)))
    finally:
        await producer.stop()


async def _run_mode(args: argparse.Namespace, mode: str, sig_name: str) -> dict[str, Any]:
    from scifikpi_tools import localinfra

    broker = None
    bootstrap = os.environ.get("STACK_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = await asyncio.to_thread(localinfra.start_tansu)
        bootstrap = broker.bootstrap
    prefix = f"bench.{mode}.{sig_name}.{int(time.time())}"
    topics = [f"{prefix}.t{i}" for i in range(args.topics)]
    stream = _Stream()
    stop = asyncio.Event()
    workers: list[_Worker] = []
    publisher: asyncio.Task[None] | None = None
    sig = signal.SIGKILL if sig_name == "kill" else signal.SIGTERM
    total = args.topics * args.partitions
    stalls: list[float] = []
    latencies: list[float] = []
    survivor_stalls: list[float] = []
    try:
        await localinfra.ensure_topics(bootstrap, topics, args.partitions)
        for i in range(args.workers):
            argv = [
                sys.executable,
                "-m",
                __name__,
                "--worker",
                bootstrap,
                mode,
                f"w{i}",
                ",".join(topics),
                str(args.fetch_max_wait_ms),
            ]
            workers.append(_Worker(i, argv, stream))
        publisher = asyncio.ensure_future(
            _publish(bootstrap, topics, args.partitions, args.rate, stream, stop)
        )
        for w in workers:
            await w.start()
        await _until(lambda: stream.caught_up(time.time() - 1, total), 600)
        await asyncio.sleep(3)  # let the group settle after the initial joins
        steady_from = time.time()
        await asyncio.sleep(3)
        latencies = stream.latencies(steady_from, time.time() - 0.5)
        for _ in range(args.restarts):
            await _until(lambda: stream.caught_up(time.time() - 1, total), 120)
            killed_at = time.time()
            owned = {tp for tp, w in stream.owners(killed_at).items() if w == 0}
            await workers[0].stop(sig)
            await workers[0].start()
            await asyncio.wait_for(workers[0].joined.wait(), 120)
            rejoined = time.time()
            await _until(lambda t=rejoined: stream.caught_up(t, total), 120)
            await asyncio.sleep(2)
            until = time.time()
            stalls.append(stream.stall(killed_at, until, set()))
            survivor_stalls.append(stream.stall(killed_at, until, owned))
    finally:
        stop.set()
        if publisher:
            with contextlib.suppress(Exception):
                await publisher
        for w in workers:
            await w.stop()
        if broker is not None:
            await asyncio.to_thread(broker.stop)
    stalls.sort()
    survivor_stalls.sort()
    return {
        "mode": mode,
        "signal": sig_name,
        "restarts": len(stalls),
        "latency_p50_ms": round(percentile(latencies, 0.5), 1),
        "latency_p99_ms": round(percentile(latencies, 0.99), 1),
        "stall_p50_s": round(percentile(stalls, 0.5), 2),
        "stall_max_s": round(max(stalls), 2),
        "survivor_stall_p50_s": round(percentile(survivor_stalls, 0.5), 2),
        "survivor_stall_max_s": round(max(survivor_stalls), 2),
    }


async def _until(check: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the consumers did not catch up")
        await asyncio.sleep(0.05)


def _worker(bootstrap: str, mode: str, name: str, topics: str, fetch_max_wait_ms: str) -> None:
    """A worker child: subscribes as a service worker does, prints `<time> <seq>` per message."""
    from faststream.kafka.annotations import KafkaMessage
    from scifikpi_common.messaging import EventConsumers, Membership, make_broker
    from sqlalchemy import Column, MetaData, String, Table

    # FastStream logs two lines per message; at the bench's rate that is most of the CPU
    logging.basicConfig(level=os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"))
    consumers = EventConsumers(SERVICE, Table("inbox", MetaData(), Column("consumer", String)))
    session = os.environ.get("BENCH_SESSION_TIMEOUT_MS")
    membership = Membership(
        instance_id=None if mode == "dynamic" else f"bench-{name}",
        session_timeout_ms=int(session) if session else None,
    )
    broker = make_broker(bootstrap, client_id=f"{SERVICE}-worker")
    out = sys.stdout

    async def on_message(msg: KafkaMessage) -> None:
        out.write(f"{time.time():.4f} {msg.body.decode()}\n")
        out.flush()

    for topic in topics.split(","):
        options = consumers.subscription_options(topic, int(fetch_max_wait_ms), membership)
        if mode == "static-per-topic-group":
            options["group_id"] = f"{SERVICE}.{topic.rsplit('.', 1)[-1]}"
        broker.subscriber(topic, **options)(on_message)

    async def main() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
        await broker.start()
        out.write("started\n")
        out.flush()
        await stopped.wait()
        await broker.stop()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        _worker(*argv[1:6])
        return 0
    parser = argparse.ArgumentParser(prog="python -m scifikpi_tools.bench.rebalance")
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--topics", type=int, default=4)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per partition")
    parser.add_argument("--fetch-max-wait-ms", type=int, default=20)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--signals", default="kill,term")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    print(
        f"{args.workers} workers x {args.topics} topics x {args.partitions} partitions, "
        f"{args.rate:g} msg/s per partition, fetch wait {args.fetch_max_wait_ms} ms",
        flush=True,
    )
    for mode in args.modes.split(","):
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        for sig_name in args.signals.split(","):
            results.append(asyncio.run(_run_mode(args, mode, sig_name)))
            if not args.json:
                _print(results[-1])
    print(f"loadavg {Path('/proc/loadavg').read_text().strip()}")
    if args.json:
        print(json.dumps(results))
    return 0


def _print(r: dict[str, Any]) -> None:
    print(
        f"{r['mode']:<24} SIG{r['signal'].upper():<5} restarts={r['restarts']} "
        f"stall p50={r['stall_p50_s']:.2f}s max={r['stall_max_s']:.2f}s  "
        f"survivors p50={r['survivor_stall_p50_s']:.2f}s max={r['survivor_stall_max_s']:.2f}s  "
        f"steady latency p50={r['latency_p50_ms']:.0f}ms p99={r['latency_p99_ms']:.0f}ms",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
