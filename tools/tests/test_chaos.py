"""`make chaos --short` in CI: every phase (process kills, a Postgres crash restart, a broker
that comes back empty) converges and leaves exact books. The tool starts its own Postgres and
broker, so this needs nothing running; it takes about 2-3 minutes."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_short_chaos_run_converges_with_exact_books():
    run = subprocess.run(
        [sys.executable, "-m", "scifikpi_tools.chaos", "--short", "--seed", "12"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    out = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, out
    table = run.stdout.split("phase              flows")[-1]
    for phase in ("process kills", "postgres restart", "broker loss"):
        line = next(line for line in table.splitlines() if line.startswith(phase))
        assert line.rstrip().endswith("PASS"), out
    assert "kill -9" in run.stdout  # the run really killed something
