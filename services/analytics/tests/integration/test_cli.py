"""`analytics-admin` as an operator runs it: JSON on stdout, exit 0 / 1 / 2 like the other admin
commands; `lag` per topic and partition against a real broker."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid

import orjson
import pytest
from _analytics_helpers import apply, journey, registered, wrap
from analytics.consumers import consumers
from scifikpi_common.testing.broker import publish


async def _cli(database_url: str, bootstrap: str, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "ANALYTICS_DATABASE_URL": database_url,
        "ANALYTICS_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ANALYTICS_ENVIRONMENT": "test",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "analytics.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def test_console_script_is_installed() -> None:
    assert shutil.which("analytics-admin") is not None


@pytest.mark.parametrize("command", ["rebuild", "lag"])
async def test_an_unreachable_broker_exits_2(clean_db, command) -> None:
    code, out, err = await _cli(clean_db, "127.0.0.1:9", command)
    assert code == 2, (out, err)
    assert orjson.loads(err.strip().splitlines()[-1])["ok"] is False


@pytest.mark.kafka
@pytest.mark.parametrize("command", ["rebuild", "lag"])
async def test_an_unreachable_database_exits_2(kafka_bootstrap_servers, command) -> None:
    bad = "postgresql+asyncpg://nobody@127.0.0.1:9/none"
    code, _, err = await _cli(bad, kafka_bootstrap_servers, command)
    assert code == 2, err
    assert orjson.loads(err.strip().splitlines()[-1])["ok"] is False


@pytest.mark.kafka
async def test_lag_per_topic_and_partition(clean_db, kafka_bootstrap_servers, factory) -> None:
    event = registered(uuid.uuid4())
    await publish(kafka_bootstrap_servers, event.TOPIC, wrap(event))
    await apply(factory, *journey())
    code, out, err = await _cli(clean_db, kafka_bootstrap_servers, "lag")
    assert code == 0, err
    report = orjson.loads(out)
    assert report["ok"] is True and report["group"] == "analytics"
    assert set(report["topics"]) == set(consumers.topics)
    users = report["topics"]["auth.user.v1"]
    assert set(users) == {"lag", "partitions", "events_applied", "newest_event_at"}
    assert users["events_applied"] == 2  # the journey's two auth events, applied above
    assert users["newest_event_at"] is not None
    for partition in users["partitions"]:
        assert set(partition) == {"partition", "committed", "high_watermark", "lag"}
        committed = partition["committed"]
        assert partition["lag"] == max(partition["high_watermark"] - (committed or 0), 0)
    assert users["lag"] == sum(p["lag"] for p in users["partitions"])
    assert report["total_lag"] == sum(t["lag"] for t in report["topics"].values())


@pytest.mark.kafka
async def test_rebuild_prints_what_it_replayed(clean_db, kafka_bootstrap_servers, engine) -> None:
    event = registered(uuid.uuid4())
    await publish(kafka_bootstrap_servers, event.TOPIC, wrap(event), times=2)
    code, out, err = await _cli(clean_db, kafka_bootstrap_servers, "rebuild", "--batch", "50")
    assert code == 0, err
    report = orjson.loads(out)
    assert report["ok"] and report["history_truncated"] == []
    assert report["events_read"] >= 2 and report["outcomes"]["duplicate"] >= 1
    assert set(report["topics"]["auth.user.v1"]) == {"partitions", "events_read", "events_applied"}
    assert {"batches", "seconds", "events_per_s"} <= set(report)
