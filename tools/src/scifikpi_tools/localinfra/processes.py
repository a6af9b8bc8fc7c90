"""Child processes: where their output goes, how they are stopped (SIGTERM, wait, SIGKILL), and
the handle every started server shares; plus running a coroutine from sync code."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import IO, Any, Self, TypeVar

T = TypeVar("T")

#: where a child's output goes: a file (appended to), an open binary stream or a `subprocess`
#: constant; None discards it
ChildLog = Path | IO[bytes] | int | None


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> int | None:
    """Stop a child: SIGTERM, wait up to `timeout`, then SIGKILL. Returns its exit code."""
    if process.poll() is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        return process.wait(5)


def parent_death_signal() -> None:  # pragma: no cover - runs in the forked child
    """`preexec_fn`: Linux sends the child SIGTERM when its parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def child_output(log: ChildLog) -> Iterator[IO[bytes] | int]:
    """The `stdout` for a child about to start. A path is opened for appending (its folder
    created) and closed again when the block ends: the child holds its own descriptor."""
    if isinstance(log, (str, Path)):
        path = Path(log)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            yield out
    else:
        yield subprocess.DEVNULL if log is None else log


class ChildProcess:
    """What every server we start offers (`process` is its `Popen`): its pid, whether it still
    runs, and `stop()` (SIGTERM, wait, SIGKILL), also as a context manager."""

    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        return stop_process(self.process, timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target, name="localinfra-sync", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]
