"""scifikpi_tools.localinfra: the Tansu broker, embedded Postgres, topics, ports."""

from __future__ import annotations

import asyncio
import socket

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from scifikpi_tools import localinfra
from scifikpi_tools.testing import wait_gone


def test_free_port_and_wait_for_port() -> None:
    port = localinfra.free_port()
    assert localinfra.port_is_free("127.0.0.1", port)
    with pytest.raises(TimeoutError):
        localinfra.wait_for_port("127.0.0.1", port, timeout=0.3)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert not localinfra.port_is_free("127.0.0.1", port)
        localinfra.wait_for_port("127.0.0.1", port, timeout=2)


async def test_tansu_starts_creates_topics_and_stops() -> None:
    broker = localinfra.start_tansu()
    try:
        assert broker.running()
        topics = localinfra.default_topics()
        assert "auth.user.v1" in topics and "auth.user.v1.dlq" in topics
        assert "payments.payment.v1" in topics
        created = await localinfra.ensure_topics(broker.bootstrap, topics)
        assert sorted(created) == sorted(topics)
        assert (
            await localinfra.ensure_topics(broker.bootstrap, topics) == []
        )  # existing: not an error
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            (described,) = await admin.describe_topics(["auth.user.v1"])
            assert len(described["partitions"]) == 6
        finally:
            await admin.close()
    finally:
        assert broker.stop() == 0
    assert await wait_gone({broker.pid}) == set()


def test_tansu_on_a_taken_port_fails_clearly() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="could not start the Tansu broker"):
            localinfra.start_tansu(port=port, timeout=3)


async def test_embedded_postgres_keeps_its_data_across_restarts(tmp_path) -> None:
    data = tmp_path / "pgdata"
    server = localinfra.start_embedded_postgres(data)
    pid = server.pid
    try:
        url = await localinfra.ensure_database(server.url, "scifikpi")
        assert url == server.url_for("scifikpi")
        assert await localinfra.ensure_database(server.url, "scifikpi") == url  # exists: fine
        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        await conn.close()
    finally:
        server.stop()
    assert pid is not None and await wait_gone({pid}) == set()
    assert not await localinfra.postgres_reachable(server.url, timeout_s=1)

    again = localinfra.start_embedded_postgres(data)
    try:
        conn = await asyncpg.connect(again.url_for("scifikpi"))
        assert await conn.fetchval("SELECT v FROM kept") == 42
        await conn.close()
        # the SQLAlchemy form of the URL is accepted too
        assert await localinfra.postgres_reachable(
            again.url_for("scifikpi", driver="postgresql+asyncpg")
        )
    finally:
        again.stop()


async def test_ensure_database_on_a_server_url(tmp_path) -> None:
    server = localinfra.start_embedded_postgres(tmp_path / "pg")
    try:
        url = await localinfra.ensure_database(
            server.url_for("postgres", driver="postgresql+asyncpg"), "x_db"
        )
        assert url.startswith("postgresql+asyncpg://") and localinfra.database_name(url) == "x_db"
        await localinfra.drop_database(server.url, "x_db")
        assert not await localinfra.postgres_reachable(url, timeout_s=2)
    finally:
        server.stop()


async def test_sync_helpers_work_inside_a_running_loop() -> None:
    broker = localinfra.start_tansu()  # start_tansu runs its aiokafka check off this loop
    try:
        assert localinfra.ensure_topics_sync(broker.bootstrap, ["x.sync.v1"], 2) == ["x.sync.v1"]
        await asyncio.sleep(0)
    finally:
        broker.stop()
