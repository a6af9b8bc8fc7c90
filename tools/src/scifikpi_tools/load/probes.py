"""What the stack uses while it is loaded: CPU per process, DB connections, consumer lag.

CPU comes from psutil over the stack's processes (the tree under the stack's launcher, found
from the process listening on the gateway's port) and the Postgres backends serving its
database. Connections (`pg_stat_activity` of the stack's database per `application_name`) and
lag (each consumer group's committed offsets against the end offsets) are read by
`python -m scifikpi_tools.load.probes DSN BOOTSTRAP` in a child process: asyncpg and aiokafka
need an asyncio loop, and the load generator's process runs gevent.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]

from scifikpi_tools.services import SERVICES

#: process labels of the stack: console scripts `<service>-<process>`, stand-ins by module
KNOWN = ("tansu", "postgres", "localstripe", "yookassa", "tonchain")


def label(cmdline: list[str]) -> str:
    """A short name for a process of the stack from its command line."""
    if not cmdline:
        return "?"
    names = [Path(a).name for a in cmdline]
    if "-m" in cmdline[:-1]:
        module = cmdline[cmdline.index("-m") + 1]
        return module.rsplit(".", 1)[-1]
    for name in names[:3]:
        if "-" in name and not name.startswith(("python", "-")):
            return name
    for name in names:
        if any(k in name for k in KNOWN):
            return name
    return names[1] if names[0].startswith("python") and len(names) > 1 else names[0]


def listener_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1/0.0.0.0 `port` (the gateway), if this user sees it."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return int(conn.pid) if conn.pid is not None else None
    except psutil.AccessDenied:
        return None
    return None


def stack_pids(gateway_url: str, root_pid: int | None = None) -> set[int]:
    """Every process of the stack: the launcher's tree (`root_pid`, else the gateway's parent),
    without this process (the tree of a test session's stack holds the load tool too)."""
    if root_pid is None:
        port = urlsplit(gateway_url).port or 80
        gateway = listener_pid(port)
        if gateway is None:
            return set()
        try:
            root_pid = psutil.Process(gateway).ppid()
        except psutil.Error:
            return {gateway}
    try:
        root = psutil.Process(root_pid)
        tree = {p.pid for p in root.children(recursive=True)}
    except psutil.Error:
        return set()
    return tree - {os.getpid()}


class CpuSampler:
    """CPU time per process label between `start()` and `stop()`, as % of one core."""

    def __init__(self) -> None:
        self._before: dict[int, tuple[str, float]] = {}
        self._started = 0.0

    def start(self, pids: dict[int, str]) -> None:
        self._before = {}
        for pid, name in pids.items():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            self._before[pid] = (name, times.user + times.system)
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._started, 1e-6)
        used: dict[str, float] = defaultdict(float)
        for pid, (name, before) in self._before.items():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            used[name] += (times.user + times.system - before) / wall * 100
        return {k: round(v, 1) for k, v in sorted(used.items(), key=lambda kv: -kv[1])}


def labelled(pids: set[int], backends: dict[int, str] | None = None) -> dict[int, str]:
    """{pid: label} for the stack's processes, the Postgres backends (`postgres <app>`) and this
    load generator."""
    out: dict[int, str] = {}
    for pid in pids:
        try:
            out[pid] = label(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
    for pid, app in (backends or {}).items():
        out[pid] = f"postgres ({app or 'other'})"
    out[os.getpid()] = "load generator (locust)"
    return out


# --- the child: pg_stat_activity and consumer lag ---------------------------------------------


async def _database(dsn: str) -> dict[str, Any]:
    import asyncpg

    dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)  # the services' SQLAlchemy URL
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT pid, application_name FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        limit = int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["application_name"] or "other"] += 1
    return {
        "connections": dict(counts),
        "max_connections": limit,
        "backends": {str(r["pid"]): r["application_name"] for r in rows},
    }


async def _lag(bootstrap: str) -> dict[str, int]:
    """Per service group: the sum over partitions it committed of end offset minus committed.
    Committed offsets come from a consumer of that group that never joins it (OffsetFetch at
    the coordinator): Tansu closes the connection on the admin client's ListGroups."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in sorted(await reader.topics())
            if not topic.startswith("__")
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
        ends = await reader.end_offsets(partitions) if partitions else {}
    finally:
        await reader.stop()
    lag: dict[str, int] = {}
    for group in sorted({s.name for s in SERVICES}):
        member = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await member.start()
        try:
            behind, seen = 0, False
            for tp in partitions:
                committed = await member.committed(tp)
                if committed is not None:
                    seen = True
                    behind += max(ends[tp] - committed, 0)
            if seen:
                lag[group] = behind
        finally:
            await member.stop()
    return lag


async def _probe(dsn: str, bootstrap: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if dsn:
        try:
            out["database"] = await asyncio.wait_for(_database(dsn), 20)
        except Exception as exc:  # noqa: BLE001 - a probe reports, the run goes on
            out["database_error"] = repr(exc)
    if bootstrap:
        try:
            out["lag"] = await asyncio.wait_for(_lag(bootstrap), 20)
        except Exception as exc:  # noqa: BLE001
            out["lag_error"] = repr(exc)
    return out


def probe(database_url: str | None, bootstrap: str | None) -> dict[str, Any]:
    """Connections and lag now, from the child; {} when neither is known."""
    if not database_url and not bootstrap:
        return {}
    done = subprocess.run(  # noqa: S603 - this module
        [sys.executable, "-m", __name__, database_url or "", bootstrap or ""],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    try:
        return dict(json.loads(done.stdout))
    except ValueError:
        return {"error": done.stderr.strip()[-500:]}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_probe(sys.argv[1], sys.argv[2]))))
