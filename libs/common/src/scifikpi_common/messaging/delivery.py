"""What a consumer works on: a delivered record, a registered route, and what became of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from scifikpi_common.events.base import Envelope, Event
from scifikpi_common.tracing import kafka_headers_to_dict

#: `async def on_x(event, uow[, envelope])`, or for a batch handler `async def on_x(items, uow)`.
Handler = Callable[..., Awaitable[None]]
#: One element of a batch handler's `items`.
BatchItem = tuple[Event, Envelope[dict[str, Any]]]
#: What one handler did with one delivery (the `outcome` label of `events_consumed_total`).
Outcome = Literal["handled", "duplicate", "ignored", "dead_lettered"]


class PoisonMessage(Exception):
    """A message that can never be handled as it is (malformed envelope or payload)."""


def is_infrastructure_error(exc: BaseException) -> bool:
    """Database or network down: wait and re-read, never dead-letter."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | OSError | TimeoutError)


class KafkaRecord(Protocol):
    """The fields of an aiokafka `ConsumerRecord` the consumer reads."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Iterable[tuple[str, bytes | None]] | None: ...


@dataclass
class Delivery:
    """One Kafka record as the consumer saw it."""

    topic: str
    body: bytes
    key: bytes | None = None
    headers: dict[str, str] | None = None
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def of(cls, record: KafkaRecord) -> Delivery:
        return cls(
            topic=record.topic,
            body=record.value or b"",
            key=record.key,
            headers=kafka_headers_to_dict(record.headers),
            partition=record.partition,
            offset=record.offset,
        )


@dataclass(frozen=True)
class Route:
    """One registered handler of one event type; `consumer` is its inbox name."""

    event_cls: type[Event]
    handler: Handler
    consumer: str
    wants_envelope: bool
    batch: bool = False


#: topic -> event type -> the routes interested in it, in registration order.
Routes = dict[str, dict[str, list[Route]]]
