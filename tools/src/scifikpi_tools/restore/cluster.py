"""The drill's own PostgreSQL 15 server: initdb/pg_ctl from the system's binaries, run as user
`postgres` (Postgres refuses root), on a free loopback port, trust auth, with WAL archiving to the
object store through `barman-cloud-wal-archive`. A restored copy is the same class on the data dir
`barman-cloud-restore` filled, with `restore_command` and a recovery target.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from scifikpi_tools import localinfra
from scifikpi_tools.restore.barman import as_postgres

PG_MAJOR = 15


def pg_bindir() -> Path:
    """Directory of initdb/pg_ctl: `PG_BINDIR`, else /usr/lib/postgresql/15/bin, else pg_config."""
    candidates = [os.environ.get("PG_BINDIR"), f"/usr/lib/postgresql/{PG_MAJOR}/bin"]
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)  # noqa: S603
        candidates.append(out.stdout.strip())
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries (pg_ctl, initdb) not found: set PG_BINDIR")


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


@dataclass
class DrillPostgres:
    data_dir: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return localinfra.with_database(self.url, database)

    def _pg(self, tool: str, *args: str, timeout: float = 120) -> str:
        command = [*as_postgres(), str(pg_bindir() / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)  # noqa: S603
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def configure(self, settings: dict[str, str]) -> None:
        """Append `settings` to postgresql.conf (the last occurrence of a setting wins)."""
        lines = "".join(f"{k} = '{v}'\n" for k, v in settings.items())
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# the restore drill\n" + lines)

    def start(self) -> None:
        data, log = str(self.data_dir), str(self.log)
        self._pg("pg_ctl", "-D", data, "-l", log, "-w", "-t", "120", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "120", "stop")

    async def execute(self, sql: str, *args: object, database: str = "postgres") -> object:
        conn = await asyncpg.connect(self.url_for(database), timeout=10)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def wait_promoted(self, timeout_s: float = 300) -> None:
        """Until the server accepts connections and has left recovery (promoted at the target)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                if not await self.execute("SELECT pg_is_in_recovery()"):
                    return
            except (OSError, asyncpg.PostgresError):
                pass
            if loop.time() > deadline:
                raise RuntimeError(f"restored server never left recovery: see {self.log}")
            await asyncio.sleep(0.2)


def _settings(port: int, socket_dir: Path) -> dict[str, str]:
    return {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(socket_dir),
        "max_connections": "300",
        "wal_level": "replica",
        "fsync": "off",  # a drill: durability against power loss is not what it measures
    }


def init_primary(work: Path, archive_command: str, archive_timeout_s: int) -> DrillPostgres:
    """initdb a new cluster in `work/primary` with WAL archiving on; not started yet."""
    data = work / "primary"
    data.mkdir()
    _chown_to_postgres(data)
    pg = DrillPostgres(data, localinfra.free_port(), work / "primary.log")
    _touch_log(pg.log)
    pg._pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    pg.configure(
        {
            **_settings(pg.port, work / "sock"),
            "archive_mode": "on",
            "archive_command": archive_command,
            "archive_timeout": f"{archive_timeout_s}s",
        }
    )
    return pg


def prepare_restored(work: Path, restore_command: str, target_time: str) -> DrillPostgres:
    """Settings of the copy `barman-cloud-restore` wrote in `work/restored`: replay the archive
    to `target_time`, then promote. Its archiving is off: the copy must not write into the
    original's archive (on Kubernetes the new cluster gets its own serverName)."""
    data = work / "restored"
    pg = DrillPostgres(data, localinfra.free_port(), work / "restored.log")
    _touch_log(pg.log)
    pg.configure(
        {
            **_settings(pg.port, work / "sock"),
            "archive_mode": "off",
            "archive_command": "",
            "restore_command": restore_command,
            "recovery_target_time": target_time,
            "recovery_target_action": "promote",
        }
    )
    (data / "recovery.signal").touch()
    _chown_to_postgres(data / "recovery.signal")
    return pg


def new_restore_dir(work: Path) -> Path:
    data = work / "restored"
    data.mkdir(mode=0o700)
    _chown_to_postgres(data)
    return data


def _touch_log(path: Path) -> None:
    path.touch()
    _chown_to_postgres(path)


def make_work_dir_reachable(work: Path) -> None:
    """The Postgres user must reach the wrappers, the logs and the data dirs under `work`."""
    work.chmod(0o755)
    (work / "sock").mkdir(exist_ok=True)
    _chown_to_postgres(work / "sock")
