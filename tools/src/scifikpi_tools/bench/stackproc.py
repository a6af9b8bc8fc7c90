"""The local stack in its own process, for benchmarks.

In-process, the stack's supervisor drains every service's output on the benchmark's event loop;
a busy load generator then stalls the services on full pipes and the figures measure that. Here
the stack runs in a child (`python -m scifikpi_tools.bench.stackproc <data_dir>`), which prints
one JSON line with its URLs when ready and stops when its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from scifikpi_tools.stack import LocalStack


@asynccontextmanager
async def separate_stack(extra_env: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
    """`{gateway_url, kafka_bootstrap_servers, api_urls, database_url}` of a test stack in a
    child process."""
    tmp = tempfile.mkdtemp(prefix="bench-stack-")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        tmp,
        json.dumps(extra_env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        line = await asyncio.wait_for(child.stdout.readline(), 300)
        if not line:  # its log stays for reading
            raise RuntimeError(f"the stack did not start: see {Path(tmp, 'stack.log')}")
        yield json.loads(line)
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 120)
        except TimeoutError:
            child.kill()
            await child.wait()
    shutil.rmtree(tmp, ignore_errors=True)


async def _serve(data_dir: Path, extra_env: dict[str, str]) -> None:
    stack = LocalStack.for_tests(data_dir, extra_env=extra_env)
    async with stack:
        info = {
            "gateway_url": stack.gateway_url,
            "kafka_bootstrap_servers": stack.kafka_bootstrap_servers,
            "api_urls": {name: stack.url(name) for name in stack.api_urls},
            "database_url": stack.database_url,
        }
        print(json.dumps(info), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve(Path(sys.argv[1]), json.loads(sys.argv[2])))
