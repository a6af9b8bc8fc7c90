"""`make run` as a person uses it: the command line, its banner, Ctrl-C, exit code 0.

Runs `python -m scifikpi_tools.stack --ports-from N` in a subprocess with nothing configured:
embedded Postgres in a temporary data dir and a Tansu broker, exactly like a fresh machine.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from scifikpi_tools.stack import find_root
from scifikpi_tools.testing import descendants, shifted_ports_base, wait_gone_sync

pytestmark = pytest.mark.timeout(300)


def wait_for_line(path: Path, pattern: str, proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        if re.search(pattern, text):
            return text
        if proc.poll() is not None:
            raise AssertionError(f"the stack exited with {proc.returncode}:\n{text[-5000:]}")
        time.sleep(0.2)
    raise AssertionError(
        f"{pattern!r} not printed within {timeout_s}s:\n{path.read_text()[-5000:]}"
    )


def test_the_command_line_starts_everything_and_stops_on_sigint(tmp_path: Path) -> None:
    base = shifted_ports_base()
    out = tmp_path / "out.log"
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    }
    argv = [
        sys.executable,
        "-m",
        "scifikpi_tools.stack",
        "--ports-from",
        str(base),
        "--data-dir",
        str(tmp_path / "local"),
    ]
    with out.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: S603
            argv,
            cwd=find_root(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        text = wait_for_line(out, r"Ctrl-C stops everything", proc, timeout_s=180)
        gateway = f"http://127.0.0.1:{base}"
        assert f"gateway   {gateway}" in text
        assert f"swagger   {gateway}/docs" in text
        assert "/api/v1/auth/register" in text  # the API list, from the merged OpenAPI
        assert f"broker    127.0.0.1:{base + 1092}" in text
        assert f"stripe    localstripe http://127.0.0.1:{base + 420} " in text
        assert f"webhook -> {gateway}/api/v1/payments/webhooks/stripe" in text
        assert f"yoomoney  YooKassa fake http://127.0.0.1:{base + 421}/v3" in text
        assert f"standins.pay --ports-from {base} stripe|yoomoney" in text
        assert "embedded" in text and str(tmp_path / "local" / "pgdata") in text
        with httpx.Client(timeout=5) as client:
            assert client.get(gateway + "/readyz").status_code == 200
            assert client.get(f"http://127.0.0.1:{base + 1}/readyz").status_code == 200
        tree = descendants({proc.pid}) - {proc.pid}
        assert len(tree) >= 11  # 8 service processes, 2 stand-ins and the broker
        pg_pid = int((tmp_path / "local" / "pgdata" / "postmaster.pid").read_text().split()[0])

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        assert wait_gone_sync(tree | {pg_pid}, timeout_s=20) == set()
        final = out.read_text()
        assert "SIGINT: stopping" in final and "killing everything" not in final
        assert final.rstrip().endswith("stopped")
        assert not (tmp_path / "local" / "pgdata" / "postmaster.pid").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
