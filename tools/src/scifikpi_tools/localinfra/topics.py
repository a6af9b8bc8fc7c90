"""Topics on a Kafka-protocol broker: every event topic and its `.dlq`, created before consumers
subscribe (Tansu auto-creates a topic on first produce, but with one partition)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from scifikpi_tools.localinfra.processes import run_sync


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
    from aiokafka.admin import AIOKafkaAdminClient

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
        created = (
            await _create(admin, missing, partitions, replication_factor, timeout_s)
            if missing
            else []
        )
        await _wait_listed(admin, wanted, timeout_s)
        return created
    finally:
        await admin.close()


async def _create(
    admin: Any, topics: list[str], partitions: int, replication_factor: int, timeout_s: float
) -> list[str]:
    """Creates `topics`; returns those created (one that exists meanwhile is fine)."""
    from aiokafka.admin import NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    try:
        response = await admin.create_topics(
            [
                NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
                for t in topics
            ],
            timeout_ms=int(timeout_s * 1000),
        )
    except TopicAlreadyExistsError:
        response = None
    created: list[str] = []
    errors = []
    for entry in getattr(response, "topic_errors", []) or []:
        name, code = entry[0], entry[1]
        if code == 0:
            created.append(name)
        elif code != TopicAlreadyExistsError.errno:
            errors.append(f"{name}: error {code} {entry[2] if len(entry) > 2 else ''}")
    if errors:
        raise RuntimeError("could not create topics: " + "; ".join(errors))
    return created


async def _wait_listed(admin: Any, wanted: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        listed = set(await admin.list_topics())
        if all(t in listed for t in wanted):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"topics not visible after {timeout_s:.0f}s: {sorted(set(wanted) - listed)}"
            )
        await asyncio.sleep(0.2)


def ensure_topics_sync(
    bootstrap: str, topics: Iterable[str], partitions: int = 6, **kwargs: Any
) -> list[str]:
    """`ensure_topics` for sync callers (works inside a running event loop too)."""
    return run_sync(ensure_topics(bootstrap, list(topics), partitions, **kwargs))
