"""The per-message path: one transaction per message and handler, retries, then the DLQ.

The transaction claims `(consumer, event_id)` in the inbox, calls the handler and commits; the
caller commits the Kafka offset only after that. A handler error is retried with exponential
backoff and then dead-lettered; an infrastructure error propagates (the subscriber waits and
re-reads the message, so an outage delays events but loses none).
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from faststream.kafka import KafkaBroker
from opentelemetry.trace import SpanKind
from pydantic import ValidationError
from sqlalchemy import Table
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from scifikpi_common.db import UnitOfWork, UnitOfWorkFactory
from scifikpi_common.events.base import Envelope, Event, parse_envelope
from scifikpi_common.inbox import claim
from scifikpi_common.logging import get_logger
from scifikpi_common.messaging.delivery import (
    Delivery,
    Outcome,
    PoisonMessage,
    Route,
    Routes,
    is_infrastructure_error,
)
from scifikpi_common.metrics import (
    DLQ_MESSAGES,
    EVENT_HANDLE_LATENCY,
    EVENTS_CONSUMED,
    EVENTS_SKIPPED,
)
from scifikpi_common.tracing import extract_context, tracer

log = get_logger("scifikpi_common.messaging")


class MessageHandling:
    """The per-message path of `EventConsumers` (its settings are read at call time, so a test
    may lower `max_attempts` or `backoff_initial_s` on a live instance)."""

    service: str
    inbox: Table
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    strict: bool = False
    _routes: Routes

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
        if self._skipped(routes, envelope, delivery.topic):
            return ["ignored"]
        outcomes: list[Outcome] = []
        for route in routes:
            outcomes.append(await self._handle(route, envelope, delivery, uow_factory, broker))
        return outcomes or ["ignored"]

    async def _handle(
        self,
        route: Route,
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
        route: Route,
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

    def _skipped(
        self, routes: list[Route], envelope: Envelope[dict[str, Any]], topic: str = ""
    ) -> bool:
        """A strict consumer skips what it cannot count right: an event type it does not know
        on a topic it reads, or a newer schema version than its model (logged and counted when
        `topic` is given, i.e. once, on the path that decides)."""
        if not self.strict:
            return False
        if not routes:
            reason = "unknown-type"
        elif envelope.schema_version > min(r.event_cls.SCHEMA_VERSION for r in routes):
            reason = "newer-schema-version"
        else:
            return False
        if topic:
            log.warning(
                "event_skipped",
                reason=reason,
                topic=topic,
                event_type=envelope.event_type,
                schema_version=envelope.schema_version,
                event_id=str(envelope.event_id),
            )
            EVENTS_SKIPPED.labels(self.service, topic, envelope.event_type, reason).inc()
        return True

    @staticmethod
    async def _call(
        route: Route, event: Event, uow: UnitOfWork, envelope: Envelope[dict[str, Any]]
    ) -> None:
        if route.batch:
            await route.handler([(event, envelope)], uow)
        elif route.wants_envelope:
            await route.handler(event, uow, envelope=envelope)
        else:
            await route.handler(event, uow)

    def _count(self, route: Route, envelope: Envelope[dict[str, Any]], outcome: Outcome) -> Outcome:
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
