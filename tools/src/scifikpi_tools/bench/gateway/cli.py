"""The benchmark run: start everything, measure each target in turns, print the table."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from scifikpi_tools.bench.gateway.nginx import nginx_binary
from scifikpi_tools.bench.gateway.procs import Server, cpu_s
from scifikpi_tools.bench.gateway.profile import profile
from scifikpi_tools.bench.gateway.report import Measurement, _verdict, round_line, table
from scifikpi_tools.bench.gateway.targets import (
    COALESCING,
    DIRECT,
    DIRECT_PATH,
    MAKE_RUN,
    NGINX,
    STRIPPED,
    Target,
    before_sources,
    start_gateways,
    start_reference,
    start_upstream,
)
from scifikpi_tools.bench.gateway.wrk import run_wrk

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    from scifikpi_tools.bench.gateway import __doc__ as doc

    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (1 leaves a core for the servers)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns over all targets")
    parser.add_argument(
        "--upstream",
        choices=("bare", "service", "both"),
        default="bare",
        help="bare: plain FastAPI endpoint (cheapest, hardest ratio); service: built with "
        "scifikpi_common.create_service_app like the real services; both: one after the other",
    )
    parser.add_argument(
        "--before",
        metavar="REV|DIR",
        help="also run both gateways with services/gateway/src as of git revision REV "
        "(or from DIR, a directory holding the `gateway` package)",
    )
    parser.add_argument(
        "--direct-coalesced",
        action="store_true",
        help="also measure the upstream served with the gateway's HTTP protocol (one write per "
        "response), as the services would be with it",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="SECONDS",
        help="then sample the make-run gateway with py-spy for SECONDS under load",
    )
    parser.add_argument("--profile-out", type=Path, default=Path("gateway-profile.txt"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run this again."
        )
        return 2
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    if not _redis_answers(redis_url):
        print(f"Redis does not answer at {redis_url}: the make-run gateway needs it (REDIS_URL).")
        return 2
    nginx = nginx_binary()
    if nginx is None:
        print("nginx is not installed (`apt-get install -y nginx`): measuring without it")
    flavours = ("bare", "service") if args.upstream == "both" else (args.upstream,)
    code = 0
    for flavour in flavours:
        code |= _bench(args, flavour, redis_url, nginx)
    return code


def _redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _bench(args: argparse.Namespace, flavour: str, redis_url: str, nginx: str | None) -> int:
    with ExitStack() as stack:
        upstream, direct = start_upstream(flavour, stack)
        up_port = urlsplit(direct.url).port or 80
        before = None
        if args.before:
            given = Path(args.before)
            before = given if (given / "gateway").is_dir() else before_sources(args.before, stack)
        targets = [direct]
        if args.direct_coalesced:
            targets.append(start_upstream(flavour, stack, http=COALESCING)[1])
        targets += start_gateways(up_port, redis_url, before, stack)
        if nginx is not None:
            targets.append(start_reference(nginx, up_port, stack))
        servers = [upstream, *(s for t in targets for s in (t.server, t.upstream) if s)]

        _header(args, flavour, redis_url, targets)
        wrk = {"connections": args.connections, "threads": args.threads}
        for t in targets:
            run_wrk(t.url, duration_s=args.warmup, **wrk)
        redis_pid = _redis_server_pid()
        rounds: list[dict[str, Measurement]] = []
        for i in range(args.rounds):
            order = targets[i % len(targets) :] + targets[: i % len(targets)]
            measured = {t.name: _measure(t, upstream, servers, redis_pid, args) for t in order}
            rounds.append(measured)
            print(f"round {i + 1} (load average {os.getloadavg()[0]:.2f}):")
            for t in targets:
                d = None if t.name == DIRECT else measured[DIRECT]
                print(round_line(t.name, measured[t.name], d))
        print(f"median of {args.rounds} round(s), upstream {flavour}:")
        print("\n".join(table([t.name for t in targets], rounds)))
        _notes(targets, rounds)
        code = 0
        for t in targets:
            if t.name.startswith((STRIPPED, MAKE_RUN)):
                code |= _verdict([(r[DIRECT].result, r[t.name].result) for r in rounds], t.name)
        if args.profile:
            make_run = next(t for t in targets if t.name == MAKE_RUN)
            assert make_run.server is not None
            pid, out = make_run.server.proc.pid, args.profile_out
            profile(pid, make_run.url, seconds=args.profile, out=out, **wrk)
    return code


def _header(args: argparse.Namespace, flavour: str, redis_url: str, targets: list[Target]) -> None:
    load = os.getloadavg()
    print(
        f"gateway benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f}"
        f" {load[2]:.2f} before the run"
    )
    print(f"  upstream     {flavour} FastAPI, GET {DIRECT_PATH}: {targets[0].url}")
    print("  gw stripped  LOG_LEVEL=WARNING, in-process limiter, stdout discarded")
    print(
        f"  gw make-run  LOG_LEVEL unset (INFO, as make run), LOG_FORMAT=json, Redis limiter"
        f" ({redis_url}), stdout+stderr piped and drained line by line to a file"
    )
    if args.before:
        print(f"  ...@before   the same, with the gateway package of {args.before}")
    if args.direct_coalesced:
        print(f"  direct coalesced  a second upstream, uvicorn --http {COALESCING}")
    if any(t.name == NGINX for t in targets):
        print("  nginx        1 worker, upstream keepalive 64, HTTP/1.1, no access log")
    print("  gateways: GATEWAY_RATE_LIMIT_REQUESTS=10^9 (counted, never refusing), no OTLP")
    print(
        f"  wrk -t{args.threads} -c{args.connections} -d{args.duration}s per run,"
        f" {args.warmup}s warm-up each, {args.rounds} round(s), order rotated per round"
    )
    print("  foreign = CPU the machine spent outside this benchmark's processes and Redis")


def _measure(
    t: Target,
    upstream: Server,
    servers: list[Server],
    redis_pid: int | None,
    args: argparse.Namespace,
) -> Measurement:
    def ours() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once waited for
        mine = sum(u.ru_utime + u.ru_stime for u in (own, kids))
        return sum(s.cpu_s() for s in servers) + redis() + mine

    def redis() -> float:
        return cpu_s(redis_pid) if redis_pid else 0.0

    proxy0 = t.server.cpu_s() if t.server else 0.0
    lines0 = t.server.lines[0] if t.server else 0
    upstream = t.upstream or upstream
    up0, redis0, busy0, ours0 = upstream.cpu_s(), redis(), _busy_s(), ours()
    wall0 = time.monotonic()
    r = run_wrk(t.url, duration_s=args.duration, connections=args.connections, threads=args.threads)
    wall = time.monotonic() - wall0
    n = max(r.requests, 1)
    return Measurement(
        result=r,
        proxy_us=((t.server.cpu_s() - proxy0) / n * 1e6) if t.server else 0.0,
        upstream_us=(upstream.cpu_s() - up0) / n * 1e6,
        redis_us=(redis() - redis0) / n * 1e6,
        foreign_cores=max(0.0, (_busy_s() - busy0) - (ours() - ours0)) / wall,
        lines_per_request=((t.server.lines[0] - lines0) / n) if t.server else 0.0,
    )


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _redis_server_pid() -> int | None:
    """redis-server's pid when it runs on this machine (its CPU is part of the limiter's cost)."""
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "redis-server":
                return int(comm.parent.name)
        except OSError:
            continue
    return None


def _notes(targets: list[Target], rounds: list[dict[str, Measurement]]) -> None:
    for t in targets:
        if t.server is None or not t.name.startswith(MAKE_RUN):
            continue
        lines = max(r[t.name].lines_per_request for r in rounds)
        redis_us = sorted(r[t.name].redis_us for r in rounds)[(len(rounds) - 1) // 2]
        print(
            f"  {t.name}: {t.server.lines[0]} log lines in all ({lines:.3f} per request at most),"
            f" redis-server {redis_us:.0f} us CPU per request (median)"
        )
        if "rate_limit_redis_failed" in t.server.text():
            print(f"  WARNING: {t.name} lost Redis and limited in-process for a while")
    if any(t.name == NGINX for t in targets):
        for t in targets:
            if t.name.startswith(MAKE_RUN):
                ratio = sorted(r[t.name].result.rps / r[NGINX].result.rps for r in rounds)
                median = ratio[(len(ratio) - 1) // 2]
                print(f"  {t.name} / nginx throughput: {median:.2f}x (median round)")
