"""`LocalStack`: Postgres, broker, migrations and every service process, as one async context.

The steps live in the modules beside this one; `LocalStack` runs them in order and owns what
they start: `addresses` (ports and URLs, which it inherits), `infrastructure` (the database and
the broker), `children` (stand-ins, migrations, service processes), `environment` (what each
child is started with, `stack.env`) and `readiness` (/readyz, the banner).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from scifikpi_tools import localinfra
from scifikpi_tools.services import GATEWAY_PORT, SERVICES, STANDINS, Process, Service, Standin
from scifikpi_tools.stack import children, environment, readiness
from scifikpi_tools.stack.addresses import HOST, StackAddresses
from scifikpi_tools.stack.environment import Connections
from scifikpi_tools.stack.infrastructure import Database, create_topics, start_broker
from scifikpi_tools.stack.workspace import StackError, find_root
from scifikpi_tools.supervisor import ExitRecord, Output, Supervisor

__all__ = ["TEST_ENV", "LocalStack", "StackError", "find_root"]

#: environment of every stack started by `LocalStack.for_tests` (the caller's extra_env wins):
#: the tests register and poll far faster than a person, from one address
TEST_ENV = {
    "GATEWAY_RATE_LIMIT_AUTH_REQUESTS": "100000",
    "GATEWAY_RATE_LIMIT_REQUESTS": "1000000",
}


class LocalStack(StackAddresses):
    """The whole stack as an async context manager (also what `make run` uses).

    `port_base=8000` keeps the default ports (gateway 8000, auth 8001, broker 9092...), another
    value shifts every port by the same amount, `None` takes free ports everywhere (tests).
    `database_url=None` starts embedded Postgres in `<data_dir>/pgdata`; otherwise the database
    named in the URL is created if missing. With `fresh_database=True` a uniquely named database
    is created on that server instead, and dropped when the stack stops.
    """

    def __init__(
        self,
        *,
        root: Path | None = None,
        data_dir: Path | None = None,
        port_base: int | None = GATEWAY_PORT,
        database_url: str | None = None,
        fresh_database: bool = False,
        kafka_bootstrap_servers: str | None = None,
        services: Sequence[Service] = SERVICES,
        standins: Sequence[Standin] = STANDINS,
        log_format: str = "json",
        output: TextIO | Path | None = None,
        extra_env: dict[str, str] | None = None,
        ready_timeout: float = 120.0,
        stop_timeout: float = 15.0,
        backoff_initial: float = 0.5,
    ) -> None:
        super().__init__(services, standins, port_base)
        self.root = (root or find_root()).resolve()
        self.data_dir = (data_dir or self.root / ".local").resolve()
        self.log_format = log_format
        self.extra_env = dict(extra_env or {})
        self.ready_timeout = ready_timeout
        self._kafka_in = kafka_bootstrap_servers
        self._output_target = output
        self._own_stream: TextIO | None = None
        self.output = Output(sys.stdout)
        self.supervisor = Supervisor(
            self.output, stop_timeout=stop_timeout, backoff_initial=backoff_initial
        )
        self.database = Database(
            database_url, fresh=fresh_database, data_dir=self.data_dir, output=self.output
        )
        self.broker: localinfra.BrokerHandle | None = None
        self.database_url: str = ""
        self.kafka_bootstrap_servers: str = ""
        self.started = False

    @classmethod
    def for_tests(cls, data_dir: Path, **kwargs: Any) -> LocalStack:
        """A stack on free ports in `data_dir`, for tests.

        Postgres: `DATABASE_URL` if set, else 127.0.0.1:5432 if it answers, else embedded (in
        `data_dir`); a fresh database either way, dropped afterwards. Broker: its own Tansu on a
        free port, for the same reason the database is fresh: a broker shared with the rest of a
        test session holds other tests' events and consumer groups (members of stopped test
        workers make a new worker's group join wait, or on Tansu hang). `STACK_KAFKA_BOOTSTRAP_
        SERVERS` names a broker to use instead (e.g. a real Kafka). Output goes to
        `data_dir/stack.log`.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        server = os.environ.get("DATABASE_URL")
        if server is None and localinfra.port_accepts(HOST, 5432):
            server = "postgresql://postgres@127.0.0.1:5432/postgres"
        kwargs.setdefault("output", data_dir / "stack.log")
        kwargs.setdefault("backoff_initial", 0.2)
        kwargs["extra_env"] = {**TEST_ENV, **(kwargs.get("extra_env") or {})}
        return cls(
            data_dir=data_dir,
            port_base=None,
            database_url=server,
            fresh_database=server is not None,
            kafka_bootstrap_servers=os.environ.get("STACK_KAFKA_BOOTSTRAP_SERVERS") or None,
            **kwargs,
        )

    # ------------------------------------------------------------------ what runs

    @property
    def postgres(self) -> localinfra.PostgresHandle | None:
        """The embedded PostgreSQL server, when the stack started one."""
        return self.database.embedded

    @property
    def exits(self) -> list[ExitRecord]:
        return self.supervisor.exits

    def pid(self, name: str) -> int | None:
        return self.supervisor.children[name].pid

    def all_pids(self) -> set[int]:
        """Every pid this stack started (children ever spawned and the broker)."""
        pids = {pid for child in self.supervisor.children.values() for pid in child.pids}
        if self.broker is not None:
            pids.add(self.broker.pid)
        return pids

    @property
    def env_file(self) -> Path:
        """`<data_dir>/stack.env` while the stack runs (`environment.write_env_file`)."""
        return self.data_dir / "stack.env"

    # ------------------------------------------------------------------ what each child gets

    @property
    def connections(self) -> Connections:
        return Connections(
            database_url=self.database_url,
            kafka_bootstrap_servers=self.kafka_bootstrap_servers,
            own_broker=self.broker is not None,
            log_format=self.log_format,
            extra_env=self.extra_env,
        )

    def env_for(self, proc: Process) -> dict[str, str]:
        return environment.process_env(self, proc, self.connections)

    def provider_env(self) -> dict[str, str]:
        return environment.provider_env(self)

    def standin_argv(self, standin: Standin) -> list[str]:
        return environment.standin_argv(self, standin, self.extra_env)

    # ------------------------------------------------------------------ start and stop

    async def start(self) -> LocalStack:
        self._open_output()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._plan_ports()
        self.database_url = await self.database.start()
        self.kafka_bootstrap_servers, self.broker = await start_broker(
            self._kafka_in, port_base=self.port_base, data_dir=self.data_dir, output=self.output
        )
        await create_topics(self.kafka_bootstrap_servers, self.output)
        await children.start_standins(self.supervisor, self, self.standin_argv, root=self.root)
        await children.migrate(self.services, self.env_for, root=self.root, output=self.output)
        children.start_services(self.supervisor, self.processes, self.env_for, root=self.root)
        await self.wait_ready()
        environment.write_env_file(self.env_file, self.connections, self.gateway_url)
        self.started = True
        return self

    def _open_output(self) -> None:
        if isinstance(self._output_target, Path):
            self._output_target.parent.mkdir(parents=True, exist_ok=True)
            self._own_stream = self._output_target.open("a", buffering=1, encoding="utf-8")
            self.output.stream = self._own_stream
            self.output.color = False
        elif self._output_target is not None:
            self.output.stream = self._output_target

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Until every API answers 200 on /readyz."""
        timeout = self.ready_timeout if timeout_s is None else timeout_s
        await readiness.wait_ready(self.api_urls, timeout, self.output)

    async def api_list(self) -> list[str]:
        """`METHOD /path  summary` of every operation in the gateway's merged OpenAPI."""
        return await readiness.api_list(self.gateway_url)

    async def banner(self) -> str:
        return readiness.banner(self, self.connections, self.env_file, await self.api_list())

    async def stop(self) -> None:
        """Stop children, then the broker, then Postgres. Safe to call more than once."""
        self.env_file.unlink(missing_ok=True)
        await self.supervisor.stop()
        if self.broker is not None and self.broker.running():
            self.broker.stop()
            self.output.say("broker stopped")
        await self.database.stop()
        self.started = False
        if self._own_stream is not None:
            self._own_stream.close()
            self._own_stream = None
            self.output.stream = sys.stdout

    async def __aenter__(self) -> LocalStack:
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
