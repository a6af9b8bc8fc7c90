"""Helpers for tests that start processes: polling, liveness, process trees (uses psutil)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psutil


async def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 20.0, interval: float = 0.05
) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {predicate}")
        await asyncio.sleep(interval)


def alive(pid: int) -> bool:
    """True if the pid runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pids: set[int]) -> set[int]:
    """The pids and every process below them."""
    found = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found.add(pid)
            found.update(child.pid for child in proc.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return found


async def wait_gone(pids: set[int], timeout_s: float = 10.0) -> set[int]:
    """Wait until none of `pids` is alive; returns the ones still alive at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = {pid for pid in pids if alive(pid)}
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.05)


def wait_gone_sync(pids: set[int], timeout_s: float = 10.0) -> set[int]:
    """`wait_gone` for sync tests."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = {pid for pid in pids if alive(pid)}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def shifted_ports_base(offsets: tuple[int, ...] | None = None) -> int:
    """A port N for `--ports-from N` such that N + each offset is free (default: every port of
    the stack: services, their metrics ports, the broker and the provider stand-ins)."""
    import random

    from scifikpi_tools.localinfra import port_is_free
    from scifikpi_tools.services import port_offsets

    offsets = port_offsets() if offsets is None else offsets

    for _ in range(200):
        base = random.randrange(20000, 40000, 10)  # noqa: S311 - not security related
        if all(port_is_free("127.0.0.1", base + d) for d in offsets):
            return base
    raise RuntimeError("no free port range found")
