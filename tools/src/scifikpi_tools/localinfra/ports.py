"""TCP ports on this machine: pick a free one, test one, wait for one to open."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it; a tiny race is possible)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True if `port` can be bound on `host` (nothing listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to host:port succeeds now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str, port: int, timeout: float = 10.0, *, process: subprocess.Popen[Any] | None = None
) -> None:
    """Block until host:port accepts a TCP connection.

    Raises `TimeoutError` after `timeout` seconds, or `RuntimeError` at once if `process` (the
    server expected to listen there) exits meanwhile.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if port_accepts(host, port, timeout=0.5):
            return
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process {process.args!r} exited with {process.returncode} "
                f"before {host}:{port} opened"
            )
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:.1f}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
