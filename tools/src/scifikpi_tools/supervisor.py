"""Run child processes, prefix their output, restart them when they die, stop them cleanly.

Each child runs in its own session (process group), so a terminal's Ctrl-C reaches only the
launcher, which then stops the children in order: SIGTERM to the group, wait, SIGKILL. On Linux
a child also gets SIGTERM if the launcher itself dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from scifikpi_tools.localinfra import parent_death_signal

_COLORS = ("36", "32", "33", "35", "34", "96", "92", "93", "95", "94")


class Output:
    """Writes lines prefixed with the producing process' name (colored on a terminal)."""

    def __init__(
        self, stream: TextIO | None = None, *, color: bool | None = None, width: int = 14
    ) -> None:
        self.stream = stream or sys.stdout
        if color is None:
            color = bool(getattr(self.stream, "isatty", lambda: False)()) and not os.environ.get(
                "NO_COLOR"
            )
        self.color = color
        self.width = width
        self._colors: dict[str, str] = {}

    def _prefix(self, name: str) -> str:
        label = f"{name:<{self.width}}|"
        if not self.color:
            return label
        code = self._colors.setdefault(
            name, "1" if name == "stack" else _COLORS[len(self._colors) % len(_COLORS)]
        )
        return f"\x1b[{code}m{label}\x1b[0m"

    def line(self, name: str, text: str) -> None:
        try:
            self.stream.write(f"{self._prefix(name)} {text.rstrip()}\n")
            self.stream.flush()
        except (ValueError, OSError):  # stream closed at shutdown
            pass

    def say(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self.line("stack", part)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "could not start"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name} (exit code {code})"
        except ValueError:
            return f"was killed by signal {-code} (exit code {code})"
    return f"exited with code {code}"


@dataclass
class ExitRecord:
    name: str
    pid: int | None
    code: int | None
    uptime_s: float
    at: float = field(default_factory=time.time)


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    env: dict[str, str]
    cwd: Path
    restart: bool = True


@dataclass
class Child:
    spec: ChildSpec
    process: asyncio.subprocess.Process | None = None
    pids: list[int] = field(default_factory=list)
    restarts: int = 0
    started_at: float = 0.0
    task: asyncio.Task[None] | None = None
    started: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return (
            self.process.pid
            if self.process is not None and self.process.returncode is None
            else None
        )

    def running(self) -> bool:
        return self.pid is not None


async def pump_lines(stream: asyncio.StreamReader | None, emit: Callable[[str], None]) -> None:
    """Forward a child's output line by line (overlong lines are cut into chunks)."""
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line longer than the reader's limit
            raw = await stream.read(64 * 1024)
        except (ConnectionError, OSError):
            return
        if not raw:
            return
        emit(raw.decode("utf-8", "replace"))


def signal_group(pid: int, sig: int) -> None:
    """Signal the child's whole process group (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def start_group(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str]
) -> asyncio.subprocess.Process:
    """Start a child in its own session (so Ctrl-C reaches only us), output piped to us, and
    SIGTERM to it if we die (PR_SET_PDEATHSIG)."""
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=parent_death_signal,  # noqa: PLW1509
        limit=1024 * 1024,
    )


class Supervisor:
    """Keeps children running: reports each exit (name, code) and restarts with backoff."""

    def __init__(
        self,
        output: Output,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        stable_after: float = 30.0,
        stop_timeout: float = 15.0,
        on_exit: Callable[[ExitRecord], None] | None = None,
    ) -> None:
        self.output = output
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.stop_timeout = stop_timeout
        self.on_exit = on_exit
        self.children: dict[str, Child] = {}
        self.exits: list[ExitRecord] = []
        self._stopping = asyncio.Event()

    # ---------------------------------------------------------------- running

    def start(self, spec: ChildSpec) -> Child:
        if spec.name in self.children:
            raise ValueError(f"duplicate child {spec.name}")
        child = Child(spec)
        self.children[spec.name] = child
        child.task = asyncio.create_task(self._supervise(child), name=f"supervise-{spec.name}")
        return child

    async def _spawn(self, child: Child) -> asyncio.subprocess.Process:
        spec = child.spec
        process = await start_group(spec.argv, cwd=spec.cwd, env=spec.env)
        child.process = process
        child.pids.append(process.pid)
        child.started_at = time.monotonic()
        child.started.set()
        return process

    async def _supervise(self, child: Child) -> None:
        backoff = self.backoff_initial
        while not self._stopping.is_set():
            pid, code, started = await self._run(child)
            if self._stopping.is_set():
                return
            uptime = time.monotonic() - started
            self._record(ExitRecord(child.name, pid, code, uptime))
            if not child.spec.restart:
                self.output.say(
                    f"!! {child.name} {describe_exit(code)} after {uptime:.1f}s (not restarted)"
                )
                return
            if uptime >= self.stable_after:
                backoff = self.backoff_initial
            child.restarts += 1
            self.output.say(
                f"!! {child.name} (pid {pid}) {describe_exit(code)} after {uptime:.1f}s; "
                f"restarting in {backoff:.1f}s (restart #{child.restarts})"
            )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, self.backoff_max)

    async def _run(self, child: Child) -> tuple[int | None, int | None, float]:
        """Starts the child once and waits for its end: (pid, exit code, start time); pid and
        code are None when it could not start."""
        try:
            process = await self._spawn(child)
        except OSError as exc:
            self.output.say(f"{child.name}: cannot start {child.spec.argv[0]!r}: {exc}")
            return None, None, time.monotonic()
        pid = process.pid
        if self._stopping.is_set():  # stop() came while we were spawning
            signal_group(pid, signal.SIGTERM)
        pump = asyncio.create_task(
            pump_lines(process.stdout, lambda text, n=child.name: self.output.line(n, text))
        )
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            signal_group(pid, signal.SIGKILL)
            raise
        signal_group(pid, signal.SIGKILL)  # strays the child left behind
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(pump, 2.0)
        return pid, code, child.started_at

    def _record(self, record: ExitRecord) -> None:
        self.exits.append(record)
        if self.on_exit is not None:
            self.on_exit(record)

    # ---------------------------------------------------------------- stopping

    async def _stop_child(self, child: Child, timeout_s: float) -> None:
        process = child.process
        if process is not None and process.returncode is None:
            signal_group(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                self.output.say(f"{child.name} did not stop within {timeout_s:.0f}s: SIGKILL")
                signal_group(process.pid, signal.SIGKILL)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(process.wait(), 5.0)
        if process is not None:
            signal_group(process.pid, signal.SIGKILL)  # anything left in its group
        if child.task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(child.task, 5.0)
            if not child.task.done():
                child.task.cancel()

    async def stop(
        self, names: Sequence[str] | None = None, timeout_s: float | None = None
    ) -> None:
        """Stop every child (or the named ones, in that order of groups): SIGTERM, wait, SIGKILL."""
        self._stopping.set()
        wait_s = self.stop_timeout if timeout_s is None else timeout_s
        selected = [self.children[n] for n in names] if names else list(self.children.values())
        await asyncio.gather(*(self._stop_child(c, wait_s) for c in selected))

    def kill_all(self) -> None:
        """Immediate SIGKILL to every child group (a second Ctrl-C)."""
        self._stopping.set()
        for child in self.children.values():
            if child.process is not None:
                signal_group(child.process.pid, signal.SIGKILL)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()


async def run_once(
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    output: Output,
    timeout_s: float,
) -> int:
    """Run a one-shot command (migrations), prefixing its output; returns its exit code."""
    process = await start_group(argv, cwd=cwd, env=env)
    pump = asyncio.create_task(pump_lines(process.stdout, lambda text: output.line(name, text)))
    try:
        code = await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        output.say(f"{name} did not finish within {timeout_s:.0f}s: killed")
        signal_group(process.pid, signal.SIGKILL)
        code = await process.wait()
    except asyncio.CancelledError:
        signal_group(process.pid, signal.SIGKILL)
        await process.wait()
        raise
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(pump, 2.0)
    return code
