"""A fresh local stack in a child process for `make load`, and the stacks the tool can target.

The child (`python -m scifikpi_tools.load.stack <data_dir> <extra_env json>`) is
`bench.stackproc`'s, plus the stand-ins' URLs and its own pid (the root of the processes whose
CPU is sampled): the load generator's process runs gevent, the stack keeps its own asyncio loop
and output. It prints one JSON line when ready and stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scifikpi_tools.stack import LocalStack
from scifikpi_tools.stackenv import read_stack_env

API = "/api/v1"
#: the fresh stack's settings: two-minute sessions, so sessions end (and are credited by the
#: scheduler) within a run, and accelerations cut them short
STACK_ENV = {"MINING_SESSION_DURATION_S": "120", "MINING_COMPLETE_INTERVAL_S": "0.5"}


@dataclass(frozen=True)
class Target:
    gateway_url: str
    localstripe_url: str
    yookassa_url: str | None = None
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    #: the stack's launcher, whose process tree is sampled (None: found from the gateway port)
    root_pid: int | None = None


def running_stack(env_file: Path) -> Target:
    """The `make run` stack from its `stack.env`."""
    stack = read_stack_env(env_file)
    return Target(
        stack.gateway_url,
        stack.standin_url(8420),
        stack.standin_url(8421),
        stack.values.get("DATABASE_URL"),
        stack.values.get("KAFKA_BOOTSTRAP_SERVERS"),
    )


@contextmanager
def fresh_stack(extra_env: dict[str, str]) -> Iterator[Target]:
    """A stack of its own for the run (a fresh database, its own broker), stopped afterwards."""
    tmp = tempfile.mkdtemp(prefix="load-stack-")
    child = subprocess.Popen(  # noqa: S603 - this module
        [sys.executable, "-m", __name__, tmp, json.dumps(extra_env)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None and child.stdin is not None
    try:
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"the stack did not start: see {Path(tmp, 'stack.log')}")
        info = json.loads(line)
        yield Target(**info)
    finally:
        child.stdin.close()
        try:
            child.wait(120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


async def _serve(data_dir: Path, extra_env: dict[str, str]) -> None:
    stack = LocalStack.for_tests(data_dir, extra_env=extra_env)
    async with stack:
        assert stack.localstripe_url is not None
        info = {
            "gateway_url": stack.gateway_url,
            "localstripe_url": stack.localstripe_url,
            "yookassa_url": stack.yookassa_url,
            "database_url": stack.database_url,
            "kafka_bootstrap_servers": stack.kafka_bootstrap_servers,
            "root_pid": os.getpid(),
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1]), json.loads(sys.argv[2])))
