"""`make restore-drill` in CI: base backup and WAL archiving with barman-cloud to an S3 endpoint
(moto), a point-in-time restore into a fresh PostgreSQL 15, and the proof on the copy: every row of
the money/points/ownership tables as at the target time, none written after it, `ledger-admin
check` clean, the services' APIs serving the users from before the target. The tool starts its
own Postgres, object store and stack, so this needs nothing running."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from scifikpi_tools.restore.cluster import pg_bindir

pytestmark = pytest.mark.e2e

RUN_LIMIT_S = 240  # ~100-150 s here on a quiet machine; the stack starts twice


def _pg15_available() -> bool:
    try:
        pg_bindir()
    except RuntimeError:
        return False
    return shutil.which("runuser") is not None or os.geteuid() != 0


def _postgres_reads_the_venv() -> bool:
    """archive_command runs barman-cloud as the Postgres server's user, from this venv's
    site-packages: a checkout that user cannot read (under a 0700 home) cannot archive."""
    if os.geteuid() != 0:
        return True
    barman = Path(sysconfig.get_paths()["purelib"]) / "barman" / "__init__.py"
    probe = ["runuser", "-u", "postgres", "--", "test", "-r", str(barman)]
    return subprocess.run(probe, check=False, timeout=30).returncode == 0


@pytest.mark.skipif(not _pg15_available(), reason="PostgreSQL 15 server binaries not installed")
@pytest.mark.skipif(
    not _pg15_available() or not _postgres_reads_the_venv(),
    reason="the postgres user cannot read this checkout's venv (a 0700 parent directory)",
)
@pytest.mark.timeout(RUN_LIMIT_S + 30)
def test_point_in_time_restore_gives_back_exactly_the_data_at_the_target():
    command = [sys.executable, "-m", "scifikpi_tools.restore", "--users", "1"]
    try:
        run = subprocess.run(
            command, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False
        )
    except subprocess.TimeoutExpired as stuck:
        pytest.fail(f"the drill did not finish in {RUN_LIMIT_S} s:\n{_text(stuck.stdout)}")
    out = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, out
    assert "verdict              PASS" in run.stdout, out
    for label in ("payments", "ledger postings", "mining sessions", "NFT purchases", "NFTs"):
        # the report's lines carry the drill's clock: "[ 132.6 s]   payments   4/4 present, ..."
        line = next(
            line
            for line in run.stdout.splitlines()
            if re.match(rf"\[\s*[\d.]+ s\]\s+{re.escape(label)}\s+\d+/\d+ present", line)
        )
        present, total, later = map(int, re.findall(r"(\d+)/(\d+) present, (\d+) later", line)[0])
        assert present == total > 0 and later > 0, line  # rows on both sides of the target
    objects = re.search(r"objects\s+\{'base': (\d+), 'wals': (\d+)\}", run.stdout)
    assert objects and int(objects[1]) > 0 and int(objects[2]) > 0, out
    restore_s = float(re.search(r"restore time\s+([\d.]+) s", run.stdout)[1])
    lag_s = float(re.search(r"archive lag\s+([\d.]+) s", run.stdout)[1])
    assert 0 < restore_s < 120, out
    assert lag_s < 5 + 30, out  # archive_timeout 5 s, plus the upload on a busy machine
    work = re.search(r"restore drill in (\S+);", run.stdout)
    assert work and not Path(work[1]).exists(), "a passing drill removes its work directory"


def _text(output: bytes | str | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""
