"""The batch path: a run of consecutive messages of one event type in one transaction.

Each run of consecutive messages whose event types have only batch handlers, the same ones (one
event type, or the several types one batch handler takes), is claimed in the inbox
with ONE multi-row insert (duplicates, redelivered or repeated within the batch, are skipped),
handled, and committed once. If that transaction fails with a handler error, the run falls back
to the per-message path (own transaction, retries, `<topic>.dlq`), so one poison message is
dead-lettered without taking the others with it. Every other message keeps the per-message path.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert

from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory
from scifikpi_common.events.base import Envelope, Event, parse_envelope
from scifikpi_common.messaging.delivery import Delivery, Outcome, Route, is_infrastructure_error
from scifikpi_common.messaging.handling import MessageHandling, log
from scifikpi_common.metrics import EVENT_HANDLE_LATENCY, EVENTS_CONSUMED
from scifikpi_common.tracing import extract_context, tracer

_Parsed = tuple[int, Delivery, Envelope[dict[str, Any]]]
_Valid = tuple[int, Event, Envelope[dict[str, Any]]]


@dataclass
class _Run:
    """Consecutive deliveries (by index in the poll) that the same batch handlers take."""

    topic: str
    consumers: tuple[str, ...]
    items: list[_Parsed] = field(default_factory=list)


class BatchHandling(MessageHandling):
    """The batch path of `EventConsumers`, on top of the per-message path it falls back to."""

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
        for step in self._plan(deliveries):
            if isinstance(step, int):
                outcomes[step] = await self.process(deliveries[step], uow_factory, broker)
                continue
            for consumer in step.consumers:
                results = await self._handle_batch(
                    self._batch_routes(step.topic, consumer),
                    [(d, env) for _, d, env in step.items],
                    uow_factory,
                    broker,
                )
                for (i, _, _), outcome in zip(step.items, results, strict=True):
                    outcomes[i].append(outcome)
        return outcomes

    def _batch_routes(self, topic: str, consumer: str) -> dict[str, Route]:
        """event type -> the route of `consumer` for it, on `topic`."""
        return {
            event_type: route
            for event_type, routes in self._routes[topic].items()
            for route in routes
            if route.consumer == consumer
        }

    def _plan(self, deliveries: list[Delivery]) -> list[_Run | int]:
        """The poll in order: runs for the batch path, indexes for the per-message path."""
        plan: list[_Run | int] = []
        for i, delivery in enumerate(deliveries):
            batchable = self._batchable(delivery)
            if batchable is None:
                plan.append(i)
                continue
            envelope, consumers = batchable
            last = plan[-1] if plan else None
            if not (
                isinstance(last, _Run)
                and (last.topic, last.consumers) == (delivery.topic, consumers)
            ):
                last = _Run(delivery.topic, consumers)
                plan.append(last)
            last.items.append((i, delivery, envelope))
        return plan

    def _batchable(
        self, delivery: Delivery
    ) -> tuple[Envelope[dict[str, Any]], tuple[str, ...]] | None:
        """The envelope and its batch handlers' consumer names, if every handler of its event
        type is a batch handler (and a strict consumer would not skip it)."""
        try:
            envelope = parse_envelope(delivery.body)
        except ValidationError:
            return None  # the per-message path dead-letters it (malformed-envelope)
        routes = self._routes.get(delivery.topic, {}).get(envelope.event_type, [])
        if not routes or not all(r.batch for r in routes) or self._skipped(routes, envelope):
            return None
        return envelope, tuple(r.consumer for r in routes)

    async def _handle_batch(
        self,
        routes: dict[str, Route],
        items: list[tuple[Delivery, Envelope[dict[str, Any]]]],
        uow_factory: UnitOfWorkFactory,
        broker: KafkaBroker | None,
    ) -> list[Outcome]:
        """One transaction for the run: claim every event id, call the batch handler, commit.

        On a handler error the run is replayed message by message (`_handle`: own transaction,
        retries, dead letter), so a poison message only takes itself to the DLQ.
        """
        outcomes: list[Outcome | None] = [None] * len(items)
        valid: list[_Valid] = []
        for i, (delivery, envelope) in enumerate(items):
            route = routes[envelope.event_type]
            try:
                valid.append((i, route.event_cls.model_validate(envelope.payload), envelope))
            except ValidationError:
                # the per-message path dead-letters it (invalid-payload)
                outcomes[i] = await self._handle(route, envelope, delivery, uow_factory, broker)
        if valid:
            await self._handle_valid(routes, items, valid, outcomes, uow_factory, broker)
        return [o or "ignored" for o in outcomes]

    async def _handle_valid(
        self,
        routes: dict[str, Route],
        items: list[tuple[Delivery, Envelope[dict[str, Any]]]],
        valid: list[_Valid],
        outcomes: list[Outcome | None],
        uow_factory: UnitOfWorkFactory,
        broker: KafkaBroker | None,
    ) -> None:
        """The run's well-formed events: batch transaction, else one by one; fills `outcomes`."""
        started = time.perf_counter()
        route = next(iter(routes.values()))  # one handler, one consumer name for the whole run
        try:
            fresh = await self._batch_transaction(route, items[valid[0][0]][0], valid, uow_factory)
        except Exception as exc:
            if is_infrastructure_error(exc):
                log.warning("consumer_infrastructure_error", error=repr(exc), batch=len(valid))
                raise
            log.warning(
                "consumer_batch_failed_falling_back",
                consumer=route.consumer,
                batch=len(valid),
                error=repr(exc)[:300],
            )
            for i, _, envelope in valid:
                outcomes[i] = await self._handle(
                    routes[envelope.event_type], envelope, items[i][0], uow_factory, broker
                )
            return
        EVENT_HANDLE_LATENCY.labels(self.service, route.consumer).observe(
            time.perf_counter() - started
        )
        for i, _, envelope in valid:
            outcome: Outcome = "handled" if i in fresh else "duplicate"
            EVENTS_CONSUMED.labels(self.service, route.consumer, envelope.event_type, outcome).inc()
            outcomes[i] = outcome
        duplicates = len(valid) - len(fresh)
        if duplicates:
            log.info("event_duplicates_skipped", consumer=route.consumer, count=duplicates)

    async def _batch_transaction(
        self,
        route: Route,
        first_delivery: Delivery,
        valid: list[_Valid],
        uow_factory: UnitOfWorkFactory,
    ) -> set[int]:
        """Claim, handle the fresh events, commit; returns the indexes that were fresh."""
        ctx = extract_context(first_delivery.headers or {})
        with tracer(self.service).start_as_current_span(
            f"consume batch {route.consumer}", context=ctx, kind=SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.destination.name", first_delivery.topic)
            span.set_attribute("messaging.batch.message_count", len(valid))
            async with uow_factory() as uow:
                claimed = await self._claim_many(uow, route, [env for _, _, env in valid])
                fresh: list[_Valid] = []
                for i, event, envelope in valid:
                    if envelope.event_id in claimed:
                        claimed.discard(envelope.event_id)  # a repeat in the batch: duplicate
                        fresh.append((i, event, envelope))
                if fresh:
                    await route.handler([(event, env) for _, event, env in fresh], uow)
                await uow.commit()
        return {i for i, _, _ in fresh}

    async def _claim_many(
        self, uow: UnitOfWork, route: Route, envelopes: list[Envelope[dict[str, Any]]]
    ) -> set[UUID]:
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
