"""Event consumers: at-least-once delivery made effectively-once by the inbox.

Each message is handled in one transaction that first claims `(consumer, event_id)` in the
service's inbox, then runs the handler, then commits; only after that commit is the Kafka offset
committed (FastStream `NACK_ON_ERROR`). Failures:
- a malformed envelope or payload is poison: straight to `<topic>.dlq`;
- a handler error is retried with exponential backoff, then dead-lettered;
- an infrastructure error (database or network down) is never dead-lettered: the consumer waits
  and re-reads the message, so an outage delays events but loses none.

Batch handlers (opt-in, `@consumers.batch_handler(MiningCompleted)`) receive
`list[(event, envelope)]` and one unit of work. A topic with a batch handler is consumed with a
FastStream batch subscriber (`getmany`, up to `max_batch` records): each run of consecutive
messages of a batch-handled event type is claimed in the inbox with ONE multi-row insert
(duplicates, redelivered or repeated within the batch, are skipped), handled, and committed once;
the Kafka offsets are committed after the whole poll is handled (a failure seeks every partition
back to the batch's first record). If the batch transaction fails with a handler error, the run
falls back to the per-message path (own transaction, retries, `<topic>.dlq`), so one poison
message is dead-lettered without taking the others with it. Every other message of the poll, and
every topic without a batch handler, keeps the per-message semantics above.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory
from scifikpi_common.events.base import Envelope, Event, parse_envelope
from scifikpi_common.inbox import claim
from scifikpi_common.logging import get_logger
from scifikpi_common.metrics import (
    CONSUMER_LAG,
    DLQ_MESSAGES,
    EVENT_HANDLE_LATENCY,
    EVENTS_CONSUMED,
)
from scifikpi_common.tracing import extract_context, kafka_headers_to_dict, tracer

log = get_logger(__name__)

Handler = Callable[..., Awaitable[None]]
BatchItem = tuple[Event, Envelope[dict[str, Any]]]
Outcome = Literal["handled", "duplicate", "ignored", "dead_lettered"]


class PoisonMessage(Exception):
    """A message that can never be handled as it is (malformed envelope or payload)."""


def is_infrastructure_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | OSError | TimeoutError)


@dataclass(frozen=True)
class _Route:
    event_cls: type[Event]
    handler: Handler
    consumer: str
    wants_envelope: bool
    batch: bool = False


@dataclass
class Delivery:
    """One Kafka record as the consumer saw it."""

    topic: str
    body: bytes
    key: bytes | None = None
    headers: dict[str, str] | None = None
    partition: int | None = None
    offset: int | None = None


class EventConsumers:
    """The event handlers of one service: `@consumers.handler(PaymentSucceeded)`.

    A handler is `async def on_x(event, uow[, envelope]) -> None`; it never commits. A batch
    handler (`@consumers.batch_handler(X)`) is `async def on_x(items, uow) -> None` where `items`
    is `list[(event, envelope)]`, already deduplicated by the inbox; it never commits either, and
    it must give the same result for a batch as for its events one by one (the fallback path).
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
    ) -> None:
        self.service = service
        self.inbox = inbox
        self.max_attempts = max_attempts
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.infra_retry_s = infra_retry_s
        self.max_batch = max_batch
        self.batch_timeout_ms = batch_timeout_ms
        self._routes: dict[str, dict[str, list[_Route]]] = {}

    def handler(self, event_cls: type[Event]) -> Callable[[Handler], Handler]:
        def register(func: Handler) -> Handler:
            params = inspect.signature(func).parameters
            route = _Route(event_cls, func, f"{self.service}.{func.__name__}", "envelope" in params)
            self._routes.setdefault(event_cls.TOPIC, {}).setdefault(
                event_cls.EVENT_TYPE, []
            ).append(route)
            return func

        return register

    def batch_handler(self, event_cls: type[Event]) -> Callable[[Handler], Handler]:
        """Register `async def on_x(items: list[(event, envelope)], uow) -> None`.

        The inbox consumer name is `<service>.<function name>`, as for `handler`, so a handler
        can switch between the two without re-handling events already in the inbox.
        """

        def register(func: Handler) -> Handler:
            route = _Route(event_cls, func, f"{self.service}.{func.__name__}", True, batch=True)
            self._routes.setdefault(event_cls.TOPIC, {}).setdefault(
                event_cls.EVENT_TYPE, []
            ).append(route)
            return func

        return register

    def _batched_topic(self, topic: str) -> bool:
        return any(r.batch for routes in self._routes.get(topic, {}).values() for r in routes)

    @property
    def topics(self) -> list[str]:
        return sorted(self._routes)

    @property
    def group_id(self) -> str:
        return self.service

    def attach(
        self, broker: KafkaBroker, uow_factory: UnitOfWorkFactory, *, fetch_max_wait_ms: int = 500
    ) -> None:
        """Subscribe to every topic with a handler, one consumer group per service.

        `fetch_max_wait_ms` bounds how long a fetch waits for data; Kafka answers a waiting fetch
        as soon as data arrives, Tansu only when the wait ends, so the local stack lowers it.
        """
        for topic in self.topics:
            if self._batched_topic(topic):
                broker.subscriber(
                    topic,
                    group_id=self.group_id,
                    auto_offset_reset="earliest",
                    ack_policy=AckPolicy.NACK_ON_ERROR,
                    batch=True,
                    max_records=self.max_batch,
                    batch_timeout_ms=self.batch_timeout_ms,
                    fetch_max_wait_ms=fetch_max_wait_ms,
                    title=f"{self.service}:{topic}",
                )(self._batch_subscriber(broker, uow_factory))
                continue
            broker.subscriber(
                topic,
                group_id=self.group_id,
                auto_offset_reset="earliest",
                ack_policy=AckPolicy.NACK_ON_ERROR,
                fetch_max_wait_ms=fetch_max_wait_ms,
                title=f"{self.service}:{topic}",
            )(self._subscriber(broker, uow_factory))

    def _subscriber(
        self, broker: KafkaBroker, uow_factory: UnitOfWorkFactory
    ) -> Callable[..., Awaitable[None]]:
        async def on_message(msg: KafkaMessage) -> None:
            record = msg.raw_message
            delivery = Delivery(
                topic=record.topic,
                body=record.value or b"",
                key=record.key,
                headers=kafka_headers_to_dict(record.headers),
                partition=record.partition,
                offset=record.offset,
            )
            try:
                await self.process(delivery, uow_factory, broker)
            except Exception:
                # Nothing was committed; wait before the seek-back so an outage is not a hot loop.
                await asyncio.sleep(self.infra_retry_s)
                raise
            consumer = getattr(msg, "consumer", None)
            if hasattr(consumer, "highwater"):
                high = consumer.highwater(TopicPartition(record.topic, record.partition))
                if high is not None:
                    CONSUMER_LAG.labels(self.service, record.topic, str(record.partition)).set(
                        max(high - record.offset - 1, 0)
                    )

        on_message.__name__ = f"{self.service}_consumer"
        return on_message

    def _batch_subscriber(
        self, broker: KafkaBroker, uow_factory: UnitOfWorkFactory
    ) -> Callable[..., Awaitable[None]]:
        async def on_batch(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            records = raw if isinstance(raw, tuple) else (raw,)
            if not records:
                return
            deliveries = [
                Delivery(
                    topic=r.topic,
                    body=r.value or b"",
                    key=r.key,
                    headers=kafka_headers_to_dict(r.headers),
                    partition=r.partition,
                    offset=r.offset,
                )
                for r in records
            ]
            try:
                await self.process_batch(deliveries, uow_factory, broker)
            except Exception:
                # Nothing past the failing run was committed (and offsets not at all): wait,
                # then FastStream seeks every partition back to the batch's first record.
                await asyncio.sleep(self.infra_retry_s)
                raise
            consumer = getattr(msg, "consumer", None)
            if hasattr(consumer, "highwater"):
                last: dict[tuple[str, int], int] = {}
                for r in records:
                    last[(r.topic, r.partition)] = max(
                        r.offset, last.get((r.topic, r.partition), -1)
                    )
                for (topic, partition), offset in last.items():
                    high = consumer.highwater(TopicPartition(topic, partition))
                    if high is not None:
                        CONSUMER_LAG.labels(self.service, topic, str(partition)).set(
                            max(high - offset - 1, 0)
                        )

        on_batch.__name__ = f"{self.service}_batch_consumer"
        return on_batch

    async def process_batch(
        self,
        deliveries: list[Delivery],
        uow_factory: UnitOfWorkFactory,
        broker: KafkaBroker | None,
    ) -> list[list[Outcome]]:
        """Handle a poll's deliveries in order; returns the outcomes of each delivery.

        Runs of consecutive messages whose event type has only batch handlers go through
        `_handle_batch` (one transaction per run and handler); everything else goes through
        `process`, one message at a time, exactly as without batching.
        """
        outcomes: list[list[Outcome]] = [[] for _ in deliveries]
        run: list[tuple[int, Delivery, Envelope[dict[str, Any]]]] = []

        async def flush() -> None:
            if not run:
                return
            first = run[0]
            for route in self._routes[first[1].topic][first[2].event_type]:
                results = await self._handle_batch(
                    route, [(d, env) for _, d, env in run], uow_factory, broker
                )
                for (i, _, _), outcome in zip(run, results, strict=True):
                    outcomes[i].append(outcome)
            run.clear()

        for i, delivery in enumerate(deliveries):
            try:
                envelope = parse_envelope(delivery.body)
            except ValidationError:
                await flush()
                outcomes[i] = await self.process(delivery, uow_factory, broker)
                continue
            routes = self._routes.get(delivery.topic, {}).get(envelope.event_type, [])
            if routes and all(r.batch for r in routes):
                if run and (run[0][1].topic, run[0][2].event_type) != (
                    delivery.topic,
                    envelope.event_type,
                ):
                    await flush()
                run.append((i, delivery, envelope))
                continue
            await flush()
            outcomes[i] = await self.process(delivery, uow_factory, broker)
        await flush()
        return outcomes

    async def _handle_batch(
        self,
        route: _Route,
        items: list[tuple[Delivery, Envelope[dict[str, Any]]]],
        uow_factory: UnitOfWorkFactory,
        broker: KafkaBroker | None,
    ) -> list[Outcome]:
        """One transaction for the run: claim every event id, call the batch handler, commit.

        On a handler error the run is replayed message by message (`_handle`: own transaction,
        retries, dead letter), so a poison message only takes itself to the DLQ.
        """
        outcomes: list[Outcome | None] = [None] * len(items)
        valid: list[tuple[int, Event, Envelope[dict[str, Any]]]] = []
        for i, (delivery, envelope) in enumerate(items):
            try:
                valid.append((i, route.event_cls.model_validate(envelope.payload), envelope))
            except ValidationError:
                # the per-message path dead-letters it (invalid-payload)
                outcomes[i] = await self._handle(route, envelope, delivery, uow_factory, broker)
        if not valid:
            return [o or "ignored" for o in outcomes]
        first_delivery = items[valid[0][0]][0]
        ctx = extract_context(first_delivery.headers or {})
        started = time.perf_counter()
        try:
            with tracer(self.service).start_as_current_span(
                f"consume batch {route.event_cls.EVENT_TYPE}", context=ctx, kind=SpanKind.CONSUMER
            ) as span:
                span.set_attribute("messaging.destination.name", first_delivery.topic)
                span.set_attribute("messaging.batch.message_count", len(valid))
                async with uow_factory() as uow:
                    claimed = await self._claim_many(uow, route, [env for _, _, env in valid])
                    fresh: list[tuple[int, Event, Envelope[dict[str, Any]]]] = []
                    for i, event, envelope in valid:
                        if envelope.event_id in claimed:
                            claimed.discard(envelope.event_id)  # a repeat in the batch: duplicate
                            fresh.append((i, event, envelope))
                    if fresh:
                        await route.handler([(event, env) for _, event, env in fresh], uow)
                    await uow.commit()
        except Exception as exc:
            if is_infrastructure_error(exc):
                log.warning("consumer_infrastructure_error", error=repr(exc), batch=len(valid))
                raise
            log.warning(
                "consumer_batch_failed_falling_back", consumer=route.consumer, batch=len(valid),
                error=repr(exc)[:300],
            )  # fmt: skip
            for i, _, envelope in valid:
                outcomes[i] = await self._handle(route, envelope, items[i][0], uow_factory, broker)
            return [o or "ignored" for o in outcomes]
        EVENT_HANDLE_LATENCY.labels(self.service, route.consumer).observe(
            time.perf_counter() - started
        )
        fresh_ids = {i for i, _, _ in fresh}
        for i, _, envelope in valid:
            outcome: Outcome = "handled" if i in fresh_ids else "duplicate"
            EVENTS_CONSUMED.labels(self.service, route.consumer, envelope.event_type, outcome).inc()
            outcomes[i] = outcome
        duplicates = len(valid) - len(fresh_ids)
        if duplicates:
            log.info("event_duplicates_skipped", consumer=route.consumer, count=duplicates)
        return [o or "ignored" for o in outcomes]

    async def _claim_many(
        self, uow: UnitOfWork, route: _Route, envelopes: list[Envelope[dict[str, Any]]]
    ) -> set[Any]:
        """Claim every event id of the batch in one statement (ascending id: two consumers
        claiming overlapping batches queue instead of deadlocking); returns the fresh ids."""
        values = [
            {"consumer": route.consumer, "event_id": e, "event_type": t}
            for e, t in sorted({(env.event_id, env.event_type) for env in envelopes})
        ]
        result = await uow.session.execute(
            insert(self.inbox)
            .values(values)
            .on_conflict_do_nothing()
            .returning(self.inbox.c.event_id)
        )
        return set(result.scalars())

    async def process(
        self, delivery: Delivery, uow_factory: UnitOfWorkFactory, broker: KafkaBroker | None
    ) -> list[Outcome]:
        """Handle one delivery; returns what each interested handler did."""
        try:
            envelope = parse_envelope(delivery.body)
        except ValidationError as exc:
            await self._dead_letter(
                broker, delivery, "malformed-envelope", exc, consumer=self.service
            )
            return ["dead_lettered"]
        routes = self._routes.get(delivery.topic, {}).get(envelope.event_type, [])
        outcomes: list[Outcome] = []
        for route in routes:
            outcomes.append(await self._handle(route, envelope, delivery, uow_factory, broker))
        return outcomes or ["ignored"]

    async def _handle(
        self,
        route: _Route,
        envelope: Envelope[dict[str, Any]],
        delivery: Delivery,
        uow_factory: UnitOfWorkFactory,
        broker: KafkaBroker | None,
    ) -> Outcome:
        structlog.contextvars.bind_contextvars(
            event_id=str(envelope.event_id), event_type=envelope.event_type, consumer=route.consumer
        )
        try:
            try:
                event = route.event_cls.model_validate(envelope.payload)
            except ValidationError as exc:
                await self._dead_letter(
                    broker, delivery, "invalid-payload", exc, consumer=route.consumer
                )
                return self._count(route, envelope, "dead_lettered")
            ctx = extract_context(delivery.headers or {})
            started = time.perf_counter()
            with tracer(self.service).start_as_current_span(
                f"consume {envelope.event_type}", context=ctx, kind=SpanKind.CONSUMER
            ) as span:
                span.set_attribute("messaging.destination.name", delivery.topic)
                span.set_attribute("messaging.message.id", str(envelope.event_id))
                try:
                    outcome = await self._handle_with_retries(route, event, envelope, uow_factory)
                except Exception as exc:
                    if is_infrastructure_error(exc):
                        log.warning("consumer_infrastructure_error", error=repr(exc))
                        raise
                    log.exception("consumer_handler_failed", attempts=self.max_attempts)
                    await self._dead_letter(
                        broker, delivery, "handler-failed", exc, consumer=route.consumer
                    )
                    return self._count(route, envelope, "dead_lettered")
            EVENT_HANDLE_LATENCY.labels(self.service, route.consumer).observe(
                time.perf_counter() - started
            )
            return self._count(route, envelope, outcome)
        finally:
            structlog.contextvars.unbind_contextvars("event_id", "event_type", "consumer")

    async def _handle_with_retries(
        self,
        route: _Route,
        event: Event,
        envelope: Envelope[dict[str, Any]],
        uow_factory: UnitOfWorkFactory,
    ) -> Outcome:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential_jitter(multiplier=self.backoff_initial_s, max=self.backoff_max_s),
            retry=retry_if_exception(lambda e: not is_infrastructure_error(e)),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                async with uow_factory() as uow:
                    first_time = await claim(
                        uow.session,
                        self.inbox,
                        consumer=route.consumer,
                        event_id=envelope.event_id,
                        event_type=envelope.event_type,
                    )
                    if not first_time:
                        return "duplicate"
                    await self._call(route, event, uow, envelope)
                    await uow.commit()
        return "handled"

    @staticmethod
    async def _call(
        route: _Route, event: Event, uow: UnitOfWork, envelope: Envelope[dict[str, Any]]
    ) -> None:
        if route.batch:
            await route.handler([(event, envelope)], uow)
        elif route.wants_envelope:
            await route.handler(event, uow, envelope=envelope)
        else:
            await route.handler(event, uow)

    def _count(
        self, route: _Route, envelope: Envelope[dict[str, Any]], outcome: Outcome
    ) -> Outcome:
        EVENTS_CONSUMED.labels(self.service, route.consumer, envelope.event_type, outcome).inc()
        if outcome == "duplicate":
            log.info("event_duplicate_skipped")
        return outcome

    async def _dead_letter(
        self,
        broker: KafkaBroker | None,
        delivery: Delivery,
        reason: str,
        exc: BaseException,
        *,
        consumer: str,
    ) -> None:
        dlq = f"{delivery.topic}.dlq"
        headers = {
            **(delivery.headers or {}),
            "dlq-reason": reason,
            "dlq-error": repr(exc)[:1000],
            "dlq-consumer": consumer,
            "dlq-original-topic": delivery.topic,
            "dlq-original-partition": str(delivery.partition),
            "dlq-original-offset": str(delivery.offset),
        }
        log.error("event_dead_lettered", dlq=dlq, reason=reason, error=repr(exc)[:300])
        if broker is None:
            raise PoisonMessage(reason) from exc
        await broker.publish(delivery.body, topic=dlq, key=delivery.key, headers=headers)
        DLQ_MESSAGES.labels(self.service, delivery.topic).inc()


def make_broker(bootstrap_servers: str, *, client_id: str) -> KafkaBroker:
    """The one place a FastStream broker is built (plain producer: Tansu has no idempotence)."""
    # A stdlib logger, so FastStream's lines go through the same JSON formatter as ours.
    return KafkaBroker(
        bootstrap_servers, client_id=client_id, acks="all", logger=logging.getLogger("faststream")
    )
