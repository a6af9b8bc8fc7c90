"""`LocalStack`: Postgres, broker, migrations and every service process, as one async context."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

import httpx

from scifikpi_tools import localinfra
from scifikpi_tools import standins as dev
from scifikpi_tools.services import (
    BROKER_PORT,
    GATEWAY_PORT,
    SERVICES,
    STANDINS,
    Process,
    Service,
    Standin,
)
from scifikpi_tools.supervisor import ChildSpec, ExitRecord, Output, Supervisor, run_once

HOST = "127.0.0.1"
DEFAULT_DATABASE = "scifikpi"
API_PREFIX = "/api/v1"
#: where the stand-ins deliver webhooks: the public routes, through the gateway
STRIPE_WEBHOOK_PATH = f"{API_PREFIX}/payments/webhooks/stripe"
YOOMONEY_WEBHOOK_PATH = f"{API_PREFIX}/payments/webhooks/yoomoney"

#: environment of every stack started by `LocalStack.for_tests` (the caller's extra_env wins):
#: the tests register and poll far faster than a person, from one address
#: consumers' fetch wait on the Tansu broker (see env_for)
TANSU_FETCH_MAX_WAIT_MS = 20

TEST_ENV = {
    "GATEWAY_RATE_LIMIT_AUTH_REQUESTS": "100000",
    "GATEWAY_RATE_LIMIT_REQUESTS": "1000000",
}


class StackError(RuntimeError):
    """The stack could not start; the message says what to do."""


def find_root(start: Path | None = None) -> Path:
    """The workspace root: the first parent with `pyproject.toml` and a `services/` folder."""
    candidates = [start or Path.cwd(), Path(__file__).resolve()]
    for origin in candidates:
        for path in [origin, *origin.parents]:
            if (path / "pyproject.toml").is_file() and (path / "services").is_dir():
                return path
    raise StackError("cannot find the repository root (a folder with pyproject.toml and services/)")


def console_script(name: str) -> list[str]:
    """argv that runs a console script of the current environment."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = entry_points(group="console_scripts", name=name)
    for ep in found:
        module, _, attr = ep.value.partition(":")
        return [
            sys.executable,
            "-c",
            f"import sys; from {module} import {attr} as f; sys.exit(f())",
        ]
    raise StackError(
        f"console script {name!r} not found: is its package installed? "
        "(run `uv sync --all-packages`)"
    )


def _asyncpg_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return (
        f"postgresql+asyncpg{sep}{rest}"
        if scheme in {"postgres", "postgresql"} or scheme.startswith("postgresql+")
        else url
    )


def _shown(url: str) -> str:
    """A database URL for people: password masked, socket path readable."""
    return unquote(localinfra.hide_password(url))


class LocalStack:
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
        self.root = (root or find_root()).resolve()
        self.data_dir = (data_dir or self.root / ".local").resolve()
        self.port_base = port_base
        self.services = tuple(services)
        self.standins = tuple(standins)
        self.log_format = log_format
        self.extra_env = dict(extra_env or {})
        self.ready_timeout = ready_timeout
        self._database_url_in = database_url
        self._fresh_database = fresh_database
        self._kafka_in = kafka_bootstrap_servers
        self._output_target = output
        self._own_stream: TextIO | None = None
        self.output = Output(sys.stdout)
        self.supervisor = Supervisor(
            self.output, stop_timeout=stop_timeout, backoff_initial=backoff_initial
        )
        self.ports: dict[str, int] = {}
        self.broker: localinfra.BrokerHandle | None = None
        self.postgres: localinfra.PostgresHandle | None = None
        self._pg_task: asyncio.Task[localinfra.PostgresHandle] | None = None
        self._dropped_db: tuple[str, str] | None = None  # (server url, name) to drop on stop
        self.database_url: str = ""
        self.kafka_bootstrap_servers: str = ""
        self.started = False

    # ------------------------------------------------------------------ construction helpers

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

    @property
    def processes(self) -> list[Process]:
        return [p for svc in self.services for p in svc.process_list()]

    def url(self, service: str) -> str:
        return f"http://{HOST}:{self.ports[f'{service}-api']}"

    @property
    def gateway_url(self) -> str:
        gateway = next(s for s in self.services if s.is_gateway)
        return self.url(gateway.name)

    @property
    def docs_url(self) -> str:
        return self.gateway_url + "/docs"

    def standin_url(self, name: str) -> str:
        """Base URL of a provider stand-in: `localstripe`, `yookassa`."""
        return f"http://{HOST}:{self.ports[name]}"

    @property
    def localstripe_url(self) -> str | None:
        return self.standin_url("localstripe") if "localstripe" in self.ports else None

    @property
    def yookassa_url(self) -> str | None:
        return self.standin_url("yookassa") if "yookassa" in self.ports else None

    @property
    def stripe_webhook_url(self) -> str:
        return self.gateway_url + STRIPE_WEBHOOK_PATH

    @property
    def yoomoney_webhook_url(self) -> str:
        return self.gateway_url + YOOMONEY_WEBHOOK_PATH

    @property
    def api_urls(self) -> dict[str, str]:
        return {svc.name: self.url(svc.name) for svc in self.services if "api" in svc.processes}

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

    # ------------------------------------------------------------------ ports and environment

    def _plan_ports(self) -> None:
        offset = 0 if self.port_base is None else self.port_base - GATEWAY_PORT
        for proc in self.processes:
            svc = next(s for s in self.services if s.name == proc.service)
            if proc.is_api:
                port = svc.http_port + offset
            elif proc.metrics_port is not None:
                port = proc.metrics_port + offset
            else:
                continue
            self.ports[proc.name] = localinfra.free_port(HOST) if self.port_base is None else port
        for standin in self.standins:
            self.ports[standin.name] = (
                localinfra.free_port(HOST) if self.port_base is None else standin.port + offset
            )
        if self.port_base is not None:
            busy = [
                f"{name} {port}"
                for name, port in self.ports.items()
                if not localinfra.port_is_free(HOST, port)
            ]
            if busy:
                raise StackError(
                    "ports already in use: " + ", ".join(busy) + ". Another stack running? "
                    "Stop it, or shift every port with --ports-from N (e.g. --ports-from 18000)."
                )

    def env_for(self, proc: Process) -> dict[str, str]:
        svc = next(s for s in self.services if s.name == proc.service)
        env = dict(os.environ)
        env.update(
            {
                "ENVIRONMENT": "local",
                "DATABASE_URL": self.database_url,
                "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
                "LOG_FORMAT": self.log_format,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.broker is not None:
            # Tansu answers a waiting fetch only when the wait ends (Kafka: when data arrives);
            # a short wait keeps each event hop at milliseconds instead of up to 500 ms.
            env.setdefault("KAFKA_FETCH_MAX_WAIT_MS", str(TANSU_FETCH_MAX_WAIT_MS))
        if "auth" in self.api_urls:
            env["JWKS_URL"] = f"{self.url('auth')}/.well-known/jwks.json"
        if svc.is_gateway:
            for other in self.services:
                if not other.is_gateway and "api" in other.processes:
                    # the gateway's upstream map (GatewaySettings.upstream_urls), plus the
                    # plain per-service name the deployment docs use
                    key = other.env_prefix.rstrip("_")
                    env[f"GATEWAY_UPSTREAM_URLS__{key}"] = self.url(other.name)
                    env[f"GATEWAY_{key}_URL"] = self.url(other.name)
        if "api" in svc.processes:
            env[f"{svc.env_prefix}HTTP_HOST"] = HOST
            env[f"{svc.env_prefix}HTTP_PORT"] = str(self.ports[f"{svc.name}-api"])
        if proc.name in self.ports and not proc.is_api:
            env[f"{svc.env_prefix}METRICS_PORT"] = str(self.ports[proc.name])
        if svc.name == "payments":
            env.update(self.provider_env())
        if svc.name == "nft":
            # the TEP-64 metadata URLs point at this stack's gateway
            env["NFT_PUBLIC_BASE_URL"] = f"{self.gateway_url}/api/v1"
        env.update(self.extra_env)
        return env

    def provider_env(self) -> dict[str, str]:
        """The payments service's provider settings pointing at the stand-ins (with their dev
        credentials; payments.settings.PaymentsSettings reads them)."""
        env: dict[str, str] = {}
        if self.localstripe_url:
            env["PAYMENTS_STRIPE_API_BASE"] = self.localstripe_url
            env["PAYMENTS_STRIPE_API_KEY"] = dev.DEV_STRIPE_SECRET_KEY
            env["PAYMENTS_STRIPE_WEBHOOK_SECRET"] = dev.DEV_STRIPE_WEBHOOK_SECRET
        if self.yookassa_url:
            env["PAYMENTS_YOOKASSA_API_BASE"] = self.yookassa_url + "/v3"
            env["PAYMENTS_YOOKASSA_SHOP_ID"] = dev.DEV_YOOKASSA_SHOP_ID
            env["PAYMENTS_YOOKASSA_SECRET_KEY"] = dev.DEV_YOOKASSA_SECRET_KEY
        return env

    def standin_argv(self, standin: Standin) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            standin.module,
            "--host",
            HOST,
            "--port",
            str(self.ports[standin.name]),
        ]
        if standin.provider == "stripe":
            # registered by the process itself at every start (a restarted localstripe is empty
            # and would otherwise have forgotten it): the same as POST /_config/webhooks/{id}
            argv += [
                "--webhook-url",
                self.stripe_webhook_url,
                "--webhook-secret",
                self.extra_env.get("PAYMENTS_STRIPE_WEBHOOK_SECRET", dev.DEV_STRIPE_WEBHOOK_SECRET),
            ]
        elif standin.provider == "yoomoney":
            argv += [
                "--shop-id",
                self.extra_env.get("PAYMENTS_YOOKASSA_SHOP_ID", dev.DEV_YOOKASSA_SHOP_ID),
                "--secret-key",
                self.extra_env.get("PAYMENTS_YOOKASSA_SECRET_KEY", dev.DEV_YOOKASSA_SECRET_KEY),
                "--webhook-url",
                self.yoomoney_webhook_url,
            ]
        return argv

    # ------------------------------------------------------------------ start

    async def _start_postgres(self) -> None:
        if self._database_url_in:
            server_url = self._database_url_in
            # the server answers on its maintenance database even if ours does not exist yet
            maintenance = localinfra.with_database(server_url, "postgres")
            if not await localinfra.postgres_reachable(maintenance):
                raise StackError(
                    f"Postgres at {localinfra.hide_password(server_url)} does not answer"
                )
            name = localinfra.database_name(server_url) or DEFAULT_DATABASE
            if self._fresh_database:
                name = f"scifikpi_stack_{os.getpid()}_{uuid.uuid4().hex[:8]}"
                self._dropped_db = (server_url, name)
            url = await localinfra.ensure_database(server_url, name)
            self.output.say(f"postgres: {_shown(url)}")
        else:
            pgdata = self.data_dir / "pgdata"
            self.output.say(f"postgres: starting embedded PostgreSQL in {pgdata}")
            self._pg_task = asyncio.ensure_future(
                asyncio.to_thread(localinfra.start_embedded_postgres, pgdata)
            )
            self.postgres = await asyncio.shield(self._pg_task)
            url = await localinfra.ensure_database(self.postgres.url, DEFAULT_DATABASE)
            self.output.say(f"postgres: embedded, database {DEFAULT_DATABASE!r} at {_shown(url)}")
        self.database_url = _asyncpg_url(url)

    async def _start_broker(self) -> None:
        if self._kafka_in:
            self.kafka_bootstrap_servers = self._kafka_in
            await localinfra.wait_for_broker(self._kafka_in, timeout_s=30)
            self.output.say(f"broker: {self._kafka_in} (KAFKA_BOOTSTRAP_SERVERS)")
        else:
            port = 0
            if self.port_base is not None:
                wanted = BROKER_PORT + self.port_base - GATEWAY_PORT
                port = wanted if localinfra.port_is_free(HOST, wanted) else 0
                if port == 0:
                    self.output.say(f"broker: port {wanted} is taken, using a free port")
            logs = self.data_dir / "logs"
            # called from this (main) thread: the broker dies with us even if we are SIGKILLed
            self.broker = localinfra.start_tansu(
                HOST, port, log=logs / "broker.log", new_session=True
            )
            self.kafka_bootstrap_servers = self.broker.bootstrap
            self.output.say(
                f"broker: Tansu on {self.broker.bootstrap} "
                f"(memory storage; log {logs / 'broker.log'})"
            )
        created = await localinfra.ensure_topics(
            self.kafka_bootstrap_servers, localinfra.default_topics()
        )
        if created:
            self.output.say("topics created: " + ", ".join(created))

    async def _migrate(self) -> None:
        for svc in self.services:
            if not svc.has_db:
                continue
            ini = self.root / "services" / svc.name / "alembic.ini"
            if not ini.is_file():
                raise StackError(f"{svc.name}: {ini} not found")
            first = next(p for p in svc.process_list())
            env = self.env_for(first)
            argv = [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"]
            self.output.say(
                f"migrating {svc.name}: alembic -c {ini.relative_to(self.root)} upgrade head"
            )
            code = await run_once(
                f"{svc.name}-migrate",
                argv,
                env=env,
                cwd=self.root,
                output=self.output,
                timeout_s=180,
            )
            if code != 0:
                raise StackError(
                    f"migrations of {svc.name} failed (exit code {code}); see the output above"
                )

    async def _start_standins(self) -> None:
        """The provider stand-ins, supervised like the services, up before the services start."""
        if not self.standins:
            return
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        for standin in self.standins:
            self.supervisor.start(
                ChildSpec(
                    name=standin.name, argv=self.standin_argv(standin), env=env, cwd=self.root
                )
            )
        deadline = time.monotonic() + 30
        for standin in self.standins:
            port = self.ports[standin.name]
            while not localinfra.port_accepts(HOST, port, timeout=0.2):
                if time.monotonic() > deadline:
                    raise StackError(
                        f"{standin.name} did not listen on {HOST}:{port} within 30s; "
                        "see its output above"
                    )
                await asyncio.sleep(0.05)
            self.output.say(f"{standin.name}: {self.standin_url(standin.name)}")

    def _spawn_all(self) -> None:
        for proc in self.processes:
            argv = console_script(proc.script)
            self.supervisor.start(
                ChildSpec(name=proc.name, argv=argv, env=self.env_for(proc), cwd=self.root)
            )

    async def wait_ready(self, timeout_s: float | None = None) -> None:
        """Until every API answers 200 on /readyz."""
        deadline = time.monotonic() + (self.ready_timeout if timeout_s is None else timeout_s)
        pending = dict(self.api_urls)
        last: dict[str, str] = dict.fromkeys(pending, "no answer yet")
        async with httpx.AsyncClient(timeout=3.0) as client:
            while pending:
                for name, base in list(pending.items()):
                    try:
                        response = await client.get(base + "/readyz")
                    except httpx.HTTPError as exc:
                        last[name] = type(exc).__name__
                        continue
                    if response.status_code == 200:
                        del pending[name]
                        self.output.say(f"{name}-api ready at {base}")
                    else:
                        last[name] = f"{response.status_code} {response.text[:200]}"
                if not pending:
                    return
                if time.monotonic() > deadline:
                    details = "; ".join(f"{n}: {last[n]}" for n in pending)
                    raise StackError(f"not ready after {self.ready_timeout:.0f}s: {details}")
                await asyncio.sleep(0.25)

    async def start(self) -> LocalStack:
        if isinstance(self._output_target, Path):
            self._output_target.parent.mkdir(parents=True, exist_ok=True)
            self._own_stream = self._output_target.open("a", buffering=1, encoding="utf-8")
            self.output.stream = self._own_stream
            self.output.color = False
        elif self._output_target is not None:
            self.output.stream = self._output_target
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._plan_ports()
        await self._start_postgres()
        await self._start_broker()
        await self._start_standins()
        await self._migrate()
        self._spawn_all()
        await self.wait_ready()
        self._write_env_file()
        self.started = True
        return self

    @property
    def env_file(self) -> Path:
        return self.data_dir / "stack.env"

    def _write_env_file(self) -> None:
        """`<data_dir>/stack.env`: what an ops command needs to reach this stack (`make
        ledger-check`, `auth-admin ...`), owner-only since the embedded database's URL holds its
        password. Removed when the stack stops."""
        values = {
            "ENVIRONMENT": "local",
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            # the collection's address derives from it: `nft-admin` must see the stack's own
            "NFT_PUBLIC_BASE_URL": f"{self.gateway_url}/api/v1",
        }
        self.env_file.touch(mode=0o600)
        self.env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()))

    async def api_list(self) -> list[str]:
        """`METHOD /path  summary` of every operation in the gateway's merged OpenAPI."""
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                spec = (await client.get(self.gateway_url + "/openapi.json")).json()
        except (httpx.HTTPError, ValueError):
            return []
        lines = []
        for path, item in sorted(spec.get("paths", {}).items()):
            for method, op in item.items():
                if method in {"get", "post", "put", "patch", "delete"}:
                    lines.append(f"{method.upper():<6} {path}  {op.get('summary', '')}".rstrip())
        return lines

    async def banner(self) -> str:
        rows = [
            "",
            "SciFiKPI stack is up",
            f"  gateway   {self.gateway_url}",
            f"  swagger   {self.docs_url}",
            f"  database  {_shown(self.database_url)}",
            f"  broker    {self.kafka_bootstrap_servers}",
            f"  ops env   {self.env_file}  (e.g. `make ledger-check`)",
            "  services  " + ", ".join(f"{n} {u}" for n, u in self.api_urls.items()),
            "  processes " + ", ".join(f"{p.name}" for p in self.processes),
        ]
        if self.localstripe_url:
            rows.append(
                f"  stripe    localstripe {self.localstripe_url} "
                f"(webhook -> {self.stripe_webhook_url})"
            )
        if self.yookassa_url:
            rows.append(
                f"  yoomoney  YooKassa fake {self.yookassa_url}/v3 "
                f"(control {self.yookassa_url}/_control; webhook -> {self.yoomoney_webhook_url})"
            )
        if self.standins:
            shift = (
                "" if self.port_base in (None, GATEWAY_PORT) else f" --ports-from {self.port_base}"
            )
            rows.append(
                f"  pay       uv run python -m scifikpi_tools.standins.pay{shift} "
                "stripe|yoomoney <provider payment id>   (docs/payments-local.md)"
            )
        apis = await self.api_list()
        if apis:
            rows.append("  API (through the gateway):")
            rows += [f"    {line}" for line in apis]
        rows += ["Ctrl-C stops everything.", ""]
        return "\n".join(rows)

    # ------------------------------------------------------------------ stop

    async def stop(self) -> None:
        """Stop children, then the broker, then Postgres. Safe to call more than once."""
        self.env_file.unlink(missing_ok=True)
        await self.supervisor.stop()
        if self.broker is not None and self.broker.running():
            self.broker.stop()
            self.output.say("broker stopped")
        if self._dropped_db is not None:
            server, name = self._dropped_db
            self._dropped_db = None
            with contextlib.suppress(Exception):
                await localinfra.drop_database(server, name)
        if self._pg_task is not None and self.postgres is None:
            with contextlib.suppress(Exception):
                self.postgres = await self._pg_task  # started while we were being cancelled
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)
            self.postgres = None
            self.output.say("postgres stopped")
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
