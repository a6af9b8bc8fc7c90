"""Start a stand-in as a child process (`python -m <module> --host .. --port ..`) and stop it;
and, inside that process, serve its app."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scifikpi_tools.localinfra import (
    ChildLog,
    ChildProcess,
    child_output,
    free_port,
    parent_death_signal,
    stop_process,
    wait_for_port,
)

if TYPE_CHECKING:
    from aiohttp import web

HOST = "127.0.0.1"
#: the only addresses a stand-in binds: it holds test credentials and answers anyone
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass
class StandinHandle(ChildProcess):
    """A stand-in server we started: `url` is its base URL; `stop()` ends it (SIGTERM, SIGKILL)."""

    url: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    extra: dict[str, object] = field(default_factory=dict)


def spawn(
    module: str,
    args: Sequence[str],
    *,
    host: str = HOST,
    port: int = 0,
    log: ChildLog = None,
    timeout: float = 20.0,
) -> tuple[subprocess.Popen[bytes], int]:
    """Run `python -m module --host H --port P *args` until its port accepts connections."""
    if host not in LOOPBACK:
        raise ValueError(f"stand-ins listen on loopback only, not {host!r}")
    chosen = port or free_port(host)
    with child_output(log) as out:
        process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-m", module, "--host", host, "--port", str(chosen), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal,  # noqa: PLW1509
        )
    try:
        wait_for_port(host, chosen, timeout, process=process)
    except BaseException:
        stop_process(process)
        raise
    return process, chosen


def serve(app: web.Application, host: str, port: int) -> int:
    """Inside the stand-in's process: serve `app` until SIGINT/SIGTERM, every line (access log
    included) straight to stdout, which the stack prefixes with the stand-in's name."""
    from aiohttp import web

    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    web.run_app(
        app,
        host=host,
        port=port,
        access_log=logging.getLogger("aiohttp.access"),
        print=lambda text: print(text, flush=True),
    )
    return 0
