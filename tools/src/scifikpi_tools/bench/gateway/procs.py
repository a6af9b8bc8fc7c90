"""The benchmark's server processes: started with a log sink, waited for, their CPU read.

Two sinks. `quiet`: stdout discarded and stderr to a temporary file (for the error tail), as the
stripped gateway and the upstream always ran. `drained`: stdout and stderr on one pipe that a
thread reads line by line and writes, prefixed, to a file; that is what `make run`'s supervisor
does with every child (`scifikpi_tools.supervisor.pump_lines`), so a gateway logging at INFO pays
for its lines as it does there.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    #: lines the drained sink has written (0 for a quiet one)
    lines: list[int] = field(default_factory=lambda: [0])

    def pids(self) -> list[int]:
        """The process and its direct children (nginx's worker)."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            children = ""
        return [self.proc.pid, *(int(p) for p in children.split())]

    def cpu_s(self) -> float:
        return sum(cpu_s(pid) for pid in self.pids())

    def text(self) -> str:
        """Everything the sink holds so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def tail(self) -> str:
        return self.text()[-2000:]


def cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(
    name: str, cmd: list[str], env: dict[str, str], stack: ExitStack, *, drained: bool = False
) -> Server:
    """Starts a server that `stack` stops (SIGTERM, then SIGKILL after 10 s)."""
    # append mode: the pump thread writes at the end while `tail` seeks to read
    log = stack.enter_context(tempfile.TemporaryFile(mode="a+b"))  # noqa: SIM115 - closed by stack
    if drained:
        proc = subprocess.Popen(  # noqa: S603
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        server = Server(name, proc, log)
        pump = threading.Thread(target=_pump, args=(server,), daemon=True)
        pump.start()
    else:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)  # noqa: S603
        server = Server(name, proc, log)
        pump = None

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if pump is not None:
            pump.join(5)

    stack.callback(stop)
    return server


def _pump(server: Server) -> None:
    """The supervisor's pump: one line at a time, prefixed with the process name, flushed."""
    assert server.proc.stdout is not None
    prefix = f"{server.name:<14}| ".encode()
    for line in server.proc.stdout:
        server.log.write(prefix + line)
        server.log.flush()
        server.lines[0] += 1


def wait_ready(url: str, server: Server, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise SystemExit(
                f"{server.name} for {url} exited ({server.proc.returncode}):\n{server.tail()}"
            )
        with suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310
            if resp.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready in {timeout_s:.0f} s:\n{server.tail()}")
