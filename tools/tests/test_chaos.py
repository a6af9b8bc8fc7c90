"""`make chaos --short` in CI: every phase (process kills, a Postgres crash restart, a broker
that comes back empty) converges and leaves exact books. The tool starts its own Postgres and
broker, so this needs nothing running; it takes about 2-3 minutes."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

RUN_LIMIT_S = 300  # the run takes 2-3 minutes here; CI's busier machine has needed more than 120 s


@pytest.mark.timeout(RUN_LIMIT_S + 30)
def test_short_chaos_run_converges_with_exact_books():
    command = [sys.executable, "-m", "scifikpi_tools.chaos", "--short", "--seed", "12"]
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False
        )
    except subprocess.TimeoutExpired as stuck:
        pytest.fail(
            f"chaos --short did not finish in {RUN_LIMIT_S} s:\n{_text(stuck.stdout)}\n{_text(stuck.stderr)[-3000:]}"
        )
    out = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, out
    table = run.stdout.split("phase              flows")[-1]
    for phase in ("process kills", "postgres restart", "broker loss"):
        line = next(line for line in table.splitlines() if line.startswith(phase))
        assert line.rstrip().endswith("PASS"), out
    assert "kill -9" in run.stdout  # the run really killed something


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
