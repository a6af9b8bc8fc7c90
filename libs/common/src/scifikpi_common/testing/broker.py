"""A service's worker and relay against a real Kafka-protocol broker, as its tests drive them.

`deliver` hands one event to a service's consumers the way the worker would, without a broker;
`processes_running` runs the worker (when the service consumes) and the relay as tasks and stops
them on exit; `TopicReader` reads one topic from the beginning and collects the envelopes of one
key, failing fast when a process died instead of timing out. `ENVELOPE_FIELDS` is the envelope's
contract (docs/asyncapi.yaml), spelled once for every test that checks a record on the wire.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from scifikpi_common import runner
from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.events import Envelope, Event
from scifikpi_common.messaging import Delivery, EventConsumers
from scifikpi_common.outbox import Outbox

#: The keys of every event envelope on every topic.
ENVELOPE_FIELDS = frozenset(
    {"event_id", "event_type", "schema_version", "occurred_at", "producer", "key", "payload"}
)


@asynccontextmanager
async def processes_running(
    settings: Any,
    make_outbox: Callable[[], Outbox],
    consumers: EventConsumers | None = None,
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """The relay, and the worker when `consumers` is given, running until the block ends."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runner.relay_until_stopped(settings, make_outbox(), stop))]
    if consumers is not None:
        tasks.append(
            asyncio.create_task(
                runner.consume_until_stopped(settings, consumers, make_outbox(), stop)
            )
        )
    try:
        yield tasks
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)


async def publish(
    bootstrap_servers: str, topic: str, envelope: Envelope[Any], times: int = 1
) -> None:
    """Send `envelope` to `topic` `times` times, as a redelivering broker would."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
    await producer.start()
    try:
        for _ in range(times):
            await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key.encode())
    finally:
        await producer.stop()


class TopicReader:
    """One topic read from the earliest offset by a fresh consumer group."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap_servers,
            group_id=f"test-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        #: every record of the key asked for so far, in the order they arrived
        self.records: list[Any] = []

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read(
        self,
        key: object,
        until: Callable[[Sequence[dict[str, Any]]], bool],
        *,
        alive: Iterable[asyncio.Task[None]] = (),
        timeout_s: float = 90,
    ) -> list[dict[str, Any]]:
        """The envelopes of `key` seen so far, once `until(envelopes)` holds."""
        wanted = str(key).encode()
        deadline = asyncio.get_running_loop().time() + timeout_s
        while not until(self.envelopes()):
            assert asyncio.get_running_loop().time() < deadline, self.envelopes()
            for task in alive:
                assert not task.done(), task.exception()
            await self._poll(wanted, 500)
        return self.envelopes()

    async def settle(self, key: object, seconds: float = 1.0) -> list[dict[str, Any]]:
        """Read `seconds` more, the room a wrongly repeated event needs to show up."""
        await self._poll(str(key).encode(), int(seconds * 1000))
        return self.envelopes()

    def envelopes(self) -> list[dict[str, Any]]:
        return [orjson.loads(record.value) for record in self.records]

    async def _poll(self, wanted: bytes, timeout_ms: int) -> None:
        for batch in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            self.records += [record for record in batch if record.key == wanted]


def of_type(event_type: str) -> Callable[[Sequence[dict[str, Any]]], bool]:
    """`until` for TopicReader.read: an event of this type has arrived."""
    return lambda envelopes: any(e["event_type"] == event_type for e in envelopes)


async def deliver(
    consumers: EventConsumers,
    uow_factory: UnitOfWorkFactory,
    event: Event,
    *,
    envelope: Envelope[dict[str, Any]] | None = None,
) -> list[str]:
    """`event` (or exactly `envelope`, to redeliver it) through the consumers' per-message path,
    as the worker would hand it over, without a broker; returns each handler's outcome."""
    envelope = envelope or Envelope.wrap(event, producer="test")
    delivery = Delivery(topic=event.TOPIC, body=envelope.to_bytes(), key=envelope.key.encode())
    return list(await consumers.process(delivery, uow_factory, broker=None))
