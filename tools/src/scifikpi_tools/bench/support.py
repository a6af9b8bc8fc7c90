"""What every benchmark needs: a Postgres server to make a throwaway database on, and percentiles.

Percentiles use linear interpolation between closest ranks over values sorted by the caller.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import AsyncExitStack

from scifikpi_tools.localinfra import postgres_reachable, start_embedded_postgres

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


async def postgres_server(stack: AsyncExitStack, *, prefix: str = "bench-pg-") -> str:
    """`DATABASE_URL`, else 127.0.0.1:5432 if it answers, else an embedded PostgreSQL that
    `stack` stops."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    if await postgres_reachable(LOCAL_SERVER):
        return LOCAL_SERVER
    data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix))
    server = start_embedded_postgres(data_dir)
    stack.callback(server.stop)
    return server.url
