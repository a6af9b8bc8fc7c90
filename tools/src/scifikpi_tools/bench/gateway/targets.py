"""What the benchmark measures: the upstream direct, the gateways, nginx; each a started process.

Gateways come in two configurations (`stripped`, `make-run`) and optionally twice: the working
tree's code and, with `--before REV`, the gateway's sources at that git revision (extracted with
`git archive` into a temporary directory put first on PYTHONPATH), so a change is measured
against its baseline in the same run.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from scifikpi_tools.bench.gateway.nginx import start_nginx
from scifikpi_tools.bench.gateway.procs import Server, start, wait_ready
from scifikpi_tools.localinfra import free_port

UPSTREAM_APP = "scifikpi_tools.bench.upstream:create_app"
DIRECT_PATH, GATEWAY_PATH = "/.well-known/jwks.json", "/api/v1/.well-known/jwks.json"
DIRECT, STRIPPED, MAKE_RUN, NGINX = "direct", "gw stripped", "gw make-run", "nginx"
#: the upstream again, with the gateway's one-write-per-response HTTP protocol (`gateway.server`)
DIRECT_COALESCED = "direct coalesced"
COALESCING = "gateway.server:CoalescingHttpToolsProtocol"
_RUN_WITH_PROTOCOL = (
    "import uvicorn; from {} import {} as P; uvicorn.run({!r}, factory=True, host='127.0.0.1',"
    " port={}, loop='uvloop', http=P, access_log=False, log_level='warning')"
)
GATEWAY_SRC = "services/gateway/src"


@dataclass
class Target:
    name: str
    url: str
    server: Server | None  # the proxy; None for direct
    #: a target that is an upstream of its own (its CPU is counted as upstream CPU)
    upstream: Server | None = None


def gateway_envs(up_port: int, redis_url: str) -> dict[str, dict[str, str]]:
    """The environment of each gateway configuration. Both never refuse (limit 10^9), so the
    limiter's cost is counted without 429s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    for name in ("REDIS_URL", "LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTLP_ENDPOINT"):
        env.pop(name, None)
    env |= {
        "GATEWAY_UPSTREAM_URLS__AUTH": f"http://127.0.0.1:{up_port}",
        "GATEWAY_RATE_LIMIT_REQUESTS": str(10**9),
    }
    return {
        STRIPPED: env | {"LOG_LEVEL": "WARNING", "ENVIRONMENT": "test"},
        # as scifikpi_tools.stack.environment.process_env sets it; LOG_LEVEL left at its default
        MAKE_RUN: env
        | {
            "ENVIRONMENT": "local",
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            "REDIS_URL": redis_url,
            "GATEWAY_RATE_LIMIT_KEY_PREFIX": f"bench-{os.getpid()}:",
        },
    }


def start_upstream(
    flavour: str, stack: ExitStack, *, http: str = "httptools"
) -> tuple[Server, Target]:
    """The upstream under uvicorn, as a service runs (`http`: uvicorn's `--http`)."""
    port = free_port()
    env = dict(os.environ) | {
        "BENCH_UPSTREAM_FLAVOUR": flavour,
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "test",
    }
    if http == "httptools":
        cmd = [sys.executable, "-m", "uvicorn", "--factory", UPSTREAM_APP]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
        cmd += ["--http", http, "--no-access-log", "--log-level", "warning"]
    else:  # uvicorn's command line takes only its own protocol names
        module, _, cls = http.partition(":")
        cmd = [sys.executable, "-c", _RUN_WITH_PROTOCOL.format(module, cls, UPSTREAM_APP, port)]
    name = "upstream" if http == "httptools" else "upstream-coalesced"
    server = start(name, cmd, env, stack)
    wait_ready(f"http://127.0.0.1:{port}/healthz", server)
    target_name = DIRECT if http == "httptools" else DIRECT_COALESCED
    upstream = None if http == "httptools" else server
    return server, Target(target_name, f"http://127.0.0.1:{port}{DIRECT_PATH}", None, upstream)


def before_sources(rev: str, stack: ExitStack) -> Path:
    """The gateway package as of `rev`, in a temporary directory that `stack` removes."""
    root = subprocess.run(  # noqa: S603
        ["git", "rev-parse", "--show-toplevel"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(  # noqa: S603
        ["git", "-C", root, "archive", "--format=tar", rev, GATEWAY_SRC],  # noqa: S607
        capture_output=True,
        check=True,
    ).stdout
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-gw-before-")))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
    return tmp / GATEWAY_SRC


def start_gateways(
    up_port: int, redis_url: str, before: Path | None, stack: ExitStack
) -> list[Target]:
    """Every gateway variant, ready: stripped and make-run, each also `@before` when asked."""
    variants: list[tuple[str, Path | None]] = [("", None)]
    if before is not None:
        variants.insert(0, ("@before", before))
    targets = []
    for config, env in gateway_envs(up_port, redis_url).items():
        for suffix, src in variants:
            port = free_port()
            env_v = env | {"GATEWAY_HTTP_PORT": str(port)}
            if src is not None:
                env_v["PYTHONPATH"] = os.pathsep.join(
                    filter(None, [str(src), env.get("PYTHONPATH")])
                )
                _check_imports_from(src, env_v)
            cmd = [sys.executable, "-m", "gateway.main"]
            name = config + suffix
            server = start(name, cmd, env_v, stack, drained=config == MAKE_RUN)
            targets.append(Target(name, f"http://127.0.0.1:{port}{GATEWAY_PATH}", server))
    for t in targets:
        # only the measured route's upstream runs here: wait on that route, not /readyz
        assert t.server is not None
        wait_ready(t.url, t.server)
    return targets


def _check_imports_from(src: Path, env: dict[str, str]) -> None:
    where = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import gateway; print(gateway.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not where.startswith(str(src)):
        raise SystemExit(f"the @before gateway would import {where}, not the copy in {src}")


def start_reference(binary: str, up_port: int, stack: ExitStack) -> Target:
    port = free_port()
    server = start_nginx(binary, port, up_port, stack)
    target = Target(NGINX, f"http://127.0.0.1:{port}{GATEWAY_PATH}", server)
    wait_ready(target.url, server)
    return target
