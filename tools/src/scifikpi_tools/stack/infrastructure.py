"""What the services need running before they start: a Postgres database and a broker with every
topic. Each is the one the environment names (DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS) or, when
none is named, one the stack starts itself (embedded PostgreSQL, Tansu) and stops again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path
from urllib.parse import unquote

from scifikpi_tools import localinfra
from scifikpi_tools.services import BROKER_PORT, GATEWAY_PORT
from scifikpi_tools.stack.addresses import HOST
from scifikpi_tools.stack.workspace import StackError
from scifikpi_tools.supervisor import Output

DEFAULT_DATABASE = "scifikpi"


def shown(url: str) -> str:
    """A database URL for people: password masked, socket path readable."""
    return unquote(localinfra.hide_password(url))


class Database:
    """The stack's database: on the server of `server_url` (created if missing; with `fresh`, a
    uniquely named one dropped at stop), else embedded PostgreSQL in `<data_dir>/pgdata`."""

    def __init__(self, server_url: str | None, *, fresh: bool, data_dir: Path, output: Output):
        self.server_url = server_url
        self.fresh = fresh
        self.data_dir = data_dir
        self.output = output
        self.embedded: localinfra.PostgresHandle | None = None
        self._embedding: asyncio.Task[localinfra.PostgresHandle] | None = None
        self._to_drop: tuple[str, str] | None = None  # (server url, name)

    async def start(self) -> str:
        """Until the database exists; returns its URL for the services (asyncpg driver)."""
        url = await (self._on_server(self.server_url) if self.server_url else self._embed())
        return localinfra.asyncpg_url(url)

    async def _on_server(self, server_url: str) -> str:
        # the server answers on its maintenance database even if ours does not exist yet
        maintenance = localinfra.with_database(server_url, "postgres")
        if not await localinfra.postgres_reachable(maintenance):
            raise StackError(f"Postgres at {localinfra.hide_password(server_url)} does not answer")
        name = localinfra.database_name(server_url) or DEFAULT_DATABASE
        if self.fresh:
            name = f"scifikpi_stack_{os.getpid()}_{uuid.uuid4().hex[:8]}"
            self._to_drop = (server_url, name)
        url = await localinfra.ensure_database(server_url, name)
        self.output.say(f"postgres: {shown(url)}")
        return url

    async def _embed(self) -> str:
        pgdata = self.data_dir / "pgdata"
        self.output.say(f"postgres: starting embedded PostgreSQL in {pgdata}")
        self._embedding = asyncio.ensure_future(
            asyncio.to_thread(localinfra.start_embedded_postgres, pgdata)
        )
        self.embedded = await asyncio.shield(self._embedding)
        url = await localinfra.ensure_database(self.embedded.url, DEFAULT_DATABASE)
        self.output.say(f"postgres: embedded, database {DEFAULT_DATABASE!r} at {shown(url)}")
        return url

    async def stop(self) -> None:
        """Drops a fresh database, stops an embedded server. Safe to call more than once."""
        if self._to_drop is not None:
            server, name = self._to_drop
            self._to_drop = None
            with contextlib.suppress(Exception):
                await localinfra.drop_database(server, name)
        if self._embedding is not None and self.embedded is None:
            with contextlib.suppress(Exception):
                self.embedded = await self._embedding  # started while we were being cancelled
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
            self.embedded = None
            self.output.say("postgres stopped")


async def start_broker(
    given: str | None, *, port_base: int | None, data_dir: Path, output: Output
) -> tuple[str, localinfra.BrokerHandle | None]:
    """The broker's bootstrap servers, and the Tansu handle when the stack started one (`given`
    is None)."""
    if not given:
        handle = _start_tansu(port_base, data_dir, output)
        return handle.bootstrap, handle
    await localinfra.wait_for_broker(given, timeout_s=30)
    output.say(f"broker: {given} (KAFKA_BOOTSTRAP_SERVERS)")
    return given, None


async def create_topics(bootstrap: str, output: Output) -> None:
    """Every event topic and its `.dlq`, before any consumer subscribes."""
    created = await localinfra.ensure_topics(bootstrap, localinfra.default_topics())
    if created:
        output.say("topics created: " + ", ".join(created))


def _start_tansu(port_base: int | None, data_dir: Path, output: Output) -> localinfra.BrokerHandle:
    port = 0
    if port_base is not None:
        wanted = BROKER_PORT + port_base - GATEWAY_PORT
        port = wanted if localinfra.port_is_free(HOST, wanted) else 0
        if port == 0:
            output.say(f"broker: port {wanted} is taken, using a free port")
    log = data_dir / "logs" / "broker.log"
    # called from this (main) thread: the broker dies with us even if we are SIGKILLed
    handle = localinfra.start_tansu(HOST, port, log=log, new_session=True)
    output.say(f"broker: Tansu on {handle.bootstrap} (memory storage; log {log})")
    return handle
