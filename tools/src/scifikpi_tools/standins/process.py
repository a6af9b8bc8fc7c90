"""Start a stand-in as a child process (`python -m <module> --host .. --port ..`) and stop it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from scifikpi_tools.localinfra import free_port, parent_death_signal, stop_process, wait_for_port

HOST = "127.0.0.1"


@dataclass
class StandinHandle:
    """A stand-in server we started: `url` is its base URL; `stop()` ends it (SIGTERM, SIGKILL)."""

    url: str
    process: subprocess.Popen[bytes]
    host: str
    port: int
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        return stop_process(self.process, timeout)

    def __enter__(self) -> StandinHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(
    module: str,
    args: Sequence[str],
    *,
    host: str = HOST,
    port: int = 0,
    log: Path | IO[bytes] | int | None = None,
    timeout: float = 20.0,
) -> tuple[subprocess.Popen[bytes], int]:
    """Run `python -m module --host H --port P *args` until its port accepts connections."""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise ValueError(f"stand-ins listen on loopback only, not {host!r}")
    chosen = port or free_port(host)
    if isinstance(log, (str, Path)):
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        out: IO[bytes] | int = Path(log).open("ab")  # noqa: SIM115 - handed to the child
    else:
        out = subprocess.DEVNULL if log is None else log
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", module, "--host", host, "--port", str(chosen), *args],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=parent_death_signal,  # noqa: PLW1509
    )
    if isinstance(log, (str, Path)):
        out.close()  # type: ignore[union-attr]
    try:
        wait_for_port(host, chosen, timeout, process=process)
    except BaseException:
        stop_process(process)
        raise
    return process, chosen
