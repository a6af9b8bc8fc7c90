"""`EventConsumers`: a service's event handlers, registered and subscribed to their topics."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy import Table

from scifikpi_common.db import UnitOfWorkFactory
from scifikpi_common.events.base import Event
from scifikpi_common.messaging.batching import BatchHandling
from scifikpi_common.messaging.delivery import Delivery, Handler, KafkaRecord, Route, Routes
from scifikpi_common.messaging.membership import Membership
from scifikpi_common.metrics import CONSUMER_LAG

Subscriber = Callable[[KafkaMessage], Awaitable[None]]


@runtime_checkable
class _KnowsHighwater(Protocol):
    """An aiokafka consumer (FastStream's test consumer does not know the highwater)."""

    def highwater(self, partition: TopicPartition) -> int | None: ...


class EventConsumers(BatchHandling):
    """The event handlers of one service: `@consumers.handler(PaymentSucceeded)`.

    A handler is `async def on_x(event, uow[, envelope]) -> None`; it never commits. A batch
    handler (`@consumers.batch_handler(X)`) is `async def on_x(items, uow) -> None` where `items`
    is `list[(event, envelope)]`, already deduplicated by the inbox; it never commits either, and
    it must give the same result for a batch as for its events one by one (the fallback path).
    A batch handler may take several event types of one topic (a projection of the whole topic):
    a poll's consecutive events of those types then go to it in one transaction.

    `strict=True` (a consumer that must count every event it is given, e.g. analytics) skips,
    with a warning and `events_skipped_total`, an event of a type this build does not know on a
    subscribed topic and one whose `schema_version` is newer than its model's: never a crash or
    a dead letter, and no inbox claim, so a later build that knows it can replay it.

    `one_subscription=True` (every handler a batch handler) reads all its topics with one
    consumer, one group member per process: a poll mixes topics and each topic's runs are
    batched as above. A projection of many topics joins its group once instead of once per topic.
    """

    def __init__(
        self,
        service: str,
        inbox: Table,
        *,
        max_attempts: int = 5,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        infra_retry_s: float = 2.0,
        max_batch: int = 500,
        batch_timeout_ms: int = 200,
        strict: bool = False,
        one_subscription: bool = False,
    ) -> None:
        self.service = service
        self.inbox = inbox
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.infra_retry_s = infra_retry_s
        self.max_batch = max_batch
        self.batch_timeout_ms = batch_timeout_ms
        self.strict = strict
        self.one_subscription = one_subscription
        self._routes: Routes = {}

    def handler(self, event_cls: type[Event]) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            params = inspect.signature(func).parameters
            self._add(Route(event_cls, func, self._consumer(func), "envelope" in params))
            return func

        return register

    def batch_handler(self, *event_classes: type[Event]) -> Callable[[Handler], Handler]:
        """Register `async def on_x(items: list[(event, envelope)], uow) -> None` for one or more
        event types of one topic.

        The inbox consumer name is `<service>.<function name>`, as for `handler`, so a handler
        can switch between the two without re-handling events already in the inbox.
        """
        if not event_classes or len({cls.TOPIC for cls in event_classes}) != 1:
            raise ValueError("a batch handler takes one or more event types of one topic")

        def register(func: Handler) -> Handler:
            for event_cls in event_classes:
                self._add(Route(event_cls, func, self._consumer(func), True, batch=True))
            return func

        return register

    def _consumer(self, func: Handler) -> str:
        return f"{self.service}.{func.__name__}"

    def _add(self, route: Route) -> None:
        topic = self._routes.setdefault(route.event_cls.TOPIC, {})
        topic.setdefault(route.event_cls.EVENT_TYPE, []).append(route)

    def _batched_topic(self, topic: str) -> bool:
        return any(r.batch for routes in self._routes.get(topic, {}).values() for r in routes)

    @property
    def topics(self) -> list[str]:
        return sorted(self._routes)

    @property
    def group_id(self) -> str:
        return self.service

    def attach(
        self,
        broker: KafkaBroker,
        uow_factory: UnitOfWorkFactory,
        *,
        fetch_max_wait_ms: int = 500,
        membership: Membership | None = None,
    ) -> None:
        """Subscribe to every topic with a handler, one consumer group per service.

        `fetch_max_wait_ms` bounds how long a fetch waits for data; Kafka answers a waiting fetch
        as soon as data arrives, Tansu only when the wait ends, so the local stack lowers it.
        `membership` makes the process a static group member (no rebalance on restart).
        """
        if self.one_subscription:
            if not all(self._batched_topic(t) for t in self.topics):
                raise ValueError("one_subscription needs batch handlers on every topic")
            broker.subscriber(
                *self.topics, **self.subscription_options("all", fetch_max_wait_ms, membership)
            )(self._batch_subscriber(broker, uow_factory))
            return
        for topic in self.topics:
            options = self.subscription_options(topic, fetch_max_wait_ms, membership)
            if self._batched_topic(topic):
                broker.subscriber(topic, **options)(self._batch_subscriber(broker, uow_factory))
            else:
                broker.subscriber(topic, **options)(self._subscriber(broker, uow_factory))

    def subscription_options(
        self, label: str, fetch_max_wait_ms: int = 500, membership: Membership | None = None
    ) -> dict[str, Any]:
        """`broker.subscriber` keyword arguments of the subscriber of `label` (a topic, or `all`
        for `one_subscription`); the rebalance bench subscribes with exactly these."""
        batched = label == "all" or self._batched_topic(label)
        options: dict[str, Any] = {
            **(membership or Membership()).options(self.group_id, label),
            "auto_offset_reset": "earliest",
            "ack_policy": AckPolicy.NACK_ON_ERROR,
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "title": f"{self.service}:{label}",
        }
        if batched:
            options.update(
                batch=True, max_records=self.max_batch, batch_timeout_ms=self.batch_timeout_ms
            )
        return options

    def _subscriber(self, broker: KafkaBroker, uow_factory: UnitOfWorkFactory) -> Subscriber:
        async def on_message(msg: KafkaMessage) -> None:
            (record,) = _records(msg)  # a subscriber without `batch=True` gets one record
            try:
                await self.process(Delivery.of(record), uow_factory, broker)
            except Exception:
                # Nothing was committed; wait before the seek-back so an outage is not a hot loop.
                await asyncio.sleep(self.infra_retry_s)
                raise
            self._report_lag(msg, [record])

        on_message.__name__ = f"{self.service}_consumer"
        return on_message

    def _batch_subscriber(self, broker: KafkaBroker, uow_factory: UnitOfWorkFactory) -> Subscriber:
        async def on_batch(msg: KafkaMessage) -> None:
            records = _records(msg)
            if not records:
                return
            try:
                await self.process_batch([Delivery.of(r) for r in records], uow_factory, broker)
            except Exception:
                # Nothing past the failing run was committed (and offsets not at all): wait,
                # then FastStream seeks every partition back to the batch's first record.
                await asyncio.sleep(self.infra_retry_s)
                raise
            self._report_lag(msg, records)

        on_batch.__name__ = f"{self.service}_batch_consumer"
        return on_batch

    def _report_lag(self, msg: KafkaMessage, records: Iterable[KafkaRecord]) -> None:
        """`consumer_lag` of each partition after the last record handled from it."""
        consumer = getattr(msg, "consumer", None)
        if not isinstance(consumer, _KnowsHighwater):
            return
        last: dict[tuple[str, int], int] = {}
        for r in records:
            last[(r.topic, r.partition)] = max(r.offset, last.get((r.topic, r.partition), -1))
        for (topic, partition), offset in last.items():
            high = consumer.highwater(TopicPartition(topic, partition))
            if high is not None:
                CONSUMER_LAG.labels(self.service, topic, str(partition)).set(
                    max(high - offset - 1, 0)
                )


def _records(msg: KafkaMessage) -> tuple[KafkaRecord, ...]:
    raw = msg.raw_message
    return raw if isinstance(raw, tuple) else (raw,)
