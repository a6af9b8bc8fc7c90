"""Gateway overhead benchmark: the same endpoint direct and through the gateway, side by side.

    uv run python -m scifikpi_tools.bench.gateway [--duration 10] [--rounds 3] [--upstream bare]

Starts a cheap upstream (`scifikpi_tools.bench.upstream`, uvicorn) and the gateway (`gateway-api`,
rate limiting on with an unreachable limit so its cost is counted) as separate processes on free
loopback ports, then runs `wrk` against the upstream directly and through the gateway, alternating,
after a short warm-up. Prints requests/s and p50/p99 latency, the ratios, and PASS/FAIL against
the targets of issue 2: throughput(gateway) >= 0.45 x direct, p99(gateway) <= 3 x direct.

Everything stays on 127.0.0.1 and every run is bounded by --duration. On a shared machine the
figures move with whatever else runs; the load average is printed for that reason.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, suppress
from dataclasses import dataclass

from scifikpi_tools.localinfra import free_port

THROUGHPUT_TARGET = 0.45
P99_TARGET = 3.0
UPSTREAM_APP = "scifikpi_tools.bench.upstream:create_app"
PATHS = {"jwks": ("/.well-known/jwks.json", "/api/v1/.well-known/jwks.json")}


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _start(cmd: list[str], env: dict[str, str], stack: ExitStack) -> subprocess.Popen[bytes]:
    """Starts a server; its stderr goes to a temporary file (a pipe nobody reads could block it)."""
    errors = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the stack
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=errors)  # noqa: S603
    proc.stderr_file = errors  # type: ignore[attr-defined]

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    stack.callback(stop)
    return proc


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            errors = proc.stderr_file  # type: ignore[attr-defined]
            errors.seek(0)
            tail = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"process for {url} exited ({proc.returncode}):\n{tail}")
        with suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready in {timeout_s:.0f} s")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"unparsable latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    url: str,
    *,
    duration_s: int,
    connections: int,
    threads: int,
    headers: dict[str, str] | None = None,
) -> Result:
    extra = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(  # noqa: S603
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency", *extra, url],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
        timeout=duration_s + 30,
    ).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"wrk measured no latencies for {url}:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Result(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(latency["50"]),
        p99_ms=_ms(latency["99"]),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        errors=errors,
    )


def _cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _row(name: str, r: Result, cpu: str = "") -> str:
    return (
        f"  {name:<8} {r.rps:>8,.0f} req/s  p50 {r.p50_ms:>6.2f} ms  p99 {r.p99_ms:>7.2f} ms"
        f"  errors {r.errors}{cpu}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds per measurement (default 10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of warm-up per target (default 2)"
    )
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (1 leaves a core for the servers)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="direct/gateway pairs; the median pair is judged"
    )
    parser.add_argument(
        "--upstream",
        choices=("bare", "service"),
        default="bare",
        help="bare: plain FastAPI endpoint (cheapest, hardest ratio); "
        "service: built with scifikpi_common.create_service_app like the real services",
    )
    parser.add_argument(
        "--redis", action="store_true", help="rate limit in Redis (REDIS_URL or 127.0.0.1:6379)"
    )
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu), then run this again."
        )
        return 2

    up_port, gw_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    up_env = env | {
        "BENCH_UPSTREAM_FLAVOUR": args.upstream,
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "test",
    }
    gw_env = env | {
        "GATEWAY_HTTP_PORT": str(gw_port),
        "GATEWAY_UPSTREAM_URLS__AUTH": f"http://127.0.0.1:{up_port}",
        "GATEWAY_RATE_LIMIT_REQUESTS": str(10**9),  # limiter on (its cost counts), never refusing
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "test",
    }
    if args.redis:
        gw_env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        gw_env["GATEWAY_RATE_LIMIT_KEY_PREFIX"] = f"bench-{os.getpid()}:"
    else:
        gw_env.pop("REDIS_URL", None)
    direct_path, gw_path = PATHS["jwks"]
    direct = f"http://127.0.0.1:{up_port}{direct_path}"
    through = f"http://127.0.0.1:{gw_port}{gw_path}"

    with ExitStack() as stack:
        uvicorn = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            UPSTREAM_APP,
            "--host",
            "127.0.0.1",
        ]
        uvicorn += ["--port", str(up_port), "--loop", "uvloop", "--http", "httptools"]
        upstream = _start([*uvicorn, "--no-access-log", "--log-level", "warning"], up_env, stack)
        _wait_ready(f"http://127.0.0.1:{up_port}/healthz", upstream)
        gateway = _start([sys.executable, "-m", "gateway.main"], gw_env, stack)
        # Only the measured route's upstream runs here, so wait on that route, not on /readyz
        # (which wants every upstream of the table).
        _wait_ready(through, gateway)

        limiter = "redis" if args.redis else "in-process"
        load = os.getloadavg()[0]
        print(f"gateway overhead benchmark: {os.cpu_count()} CPUs, load average {load:.2f}")
        print(f"  upstream: {args.upstream} FastAPI on :{up_port}, GET {direct_path}")
        print(f"  gateway:  gateway-api on :{gw_port}, GET {gw_path} (rate limiter {limiter})")
        print(
            f"  wrk -t{args.threads} -c{args.connections} -d{args.duration}s per run,"
            f" {args.warmup}s warm-up each, {args.rounds} round(s)"
        )
        wrk = {"connections": args.connections, "threads": args.threads}
        for url in (direct, through):
            run_wrk(url, duration_s=args.warmup, **wrk)

        pairs: list[tuple[Result, Result]] = []
        for i in range(args.rounds):
            d = run_wrk(direct, duration_s=args.duration, **wrk)
            cpu0 = (_cpu_s(gateway.pid), _cpu_s(upstream.pid))
            g = run_wrk(through, duration_s=args.duration, **wrk)
            cpu1 = (_cpu_s(gateway.pid), _cpu_s(upstream.pid))
            per_req = [(b - a) / max(g.requests, 1) * 1e6 for a, b in zip(cpu0, cpu1, strict=True)]
            pairs.append((d, g))
            print(f"round {i + 1}:")
            print(_row("direct", d))
            print(_row("gateway", g, f"  (CPU/request: gateway {per_req[0]:.0f} us)"))
            print(f"  ratio    throughput {g.rps / d.rps:.2f}x  p99 {g.p99_ms / d.p99_ms:.2f}x")

    return _verdict(pairs)


def _verdict(pairs: list[tuple[Result, Result]]) -> int:
    """Judges the median round by throughput ratio (one disturbed round does not decide)."""
    ranked = sorted(pairs, key=lambda p: p[1].rps / p[0].rps)
    d, g = ranked[(len(ranked) - 1) // 2]
    throughput, p99 = g.rps / d.rps, g.p99_ms / d.p99_ms
    ok_t, ok_p = throughput >= THROUGHPUT_TARGET, p99 <= P99_TARGET
    errors = sum(x.errors for pair in pairs for x in pair)
    mean = statistics.fmean(p[1].rps / p[0].rps for p in pairs)
    print("result (median round):")
    print(
        f"  throughput gateway/direct = {throughput:.2f}x (target >= {THROUGHPUT_TARGET}x)"
        f"  {'PASS' if ok_t else 'FAIL'}   [mean over rounds {mean:.2f}x]"
    )
    print(
        f"  p99 gateway/direct        = {p99:.2f}x (target <= {P99_TARGET}x)"
        f"  {'PASS' if ok_p else 'FAIL'}"
    )
    if errors:
        print(f"  {errors} failed requests (non-2xx or socket errors): FAIL")
    verdict = ok_t and ok_p and not errors
    print("PASS" if verdict else "FAIL")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
