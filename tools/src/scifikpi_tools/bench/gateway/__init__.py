"""Gateway benchmark: the same endpoint direct, through the gateway (stripped, and as `make run`
configures it) and through nginx, side by side in one run.

    uv run python -m scifikpi_tools.bench.gateway [--duration 10] [--rounds 3]
        [--upstream bare|service|both] [--profile SECONDS]

Starts a cheap upstream (`scifikpi_tools.bench.upstream`, uvicorn), two gateways (`gateway.main`)
and nginx as separate processes on free loopback ports:

- `gw stripped`: LOG_LEVEL=WARNING, in-process rate limiter, stdout discarded (the old bench);
- `gw make-run`: what `make run` starts (`scifikpi_tools.stack.environment.process_env`): log
  level left at its default (INFO), JSON logs on a pipe drained line by line like the stack's
  supervisor, the Redis limiter (REDIS_URL, else redis://127.0.0.1:6379/0);
- `nginx`: the reference proxy (`apt-get install -y nginx`), see `nginx.py`.

Both gateways count every request in their limiter with an unreachable limit, so its cost is
measured without 429s. Each round runs wrk against every target (order rotated per round) after a
short warm-up; printed per run: requests/s, p50/p99, errors, CPU per request of the proxy and of
the upstream, and the CPU other processes took meanwhile ("foreign": figures measured with a busy
machine are not comparable). Then the median table with ratios against direct taken within each
round, and PASS/FAIL of both gateways against issue 2's targets: throughput >= 0.45x direct,
p99 <= 3x direct. `--profile N` then samples the make-run gateway with py-spy under load.

Run it under `flock /tmp/stack.lock` on a shared machine. Everything stays on 127.0.0.1 and every
run is bounded by --duration.
"""

from __future__ import annotations

import subprocess  # noqa: F401 - the tests patch `bench.subprocess.run`

from scifikpi_tools.bench.gateway.cli import main
from scifikpi_tools.bench.gateway.report import P99_TARGET, THROUGHPUT_TARGET, _verdict
from scifikpi_tools.bench.gateway.wrk import Result, _ms, run_wrk

__all__ = ["P99_TARGET", "THROUGHPUT_TARGET", "Result", "_ms", "_verdict", "main", "run_wrk"]
