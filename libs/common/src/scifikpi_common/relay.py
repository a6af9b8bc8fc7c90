"""The outbox relay: publishes each service's outbox to Kafka, in order, at least once.

One relay per service is active at a time (a session-level advisory lock, held on the same
connection that LISTENs); others wait as hot standbys. Rows are read in id order with
`FOR UPDATE SKIP LOCKED`, sent, and marked published in the same transaction; a crash between
send and mark re-sends them after restart, and consumers drop the duplicate by `event_id`.
A failed send keeps the row (attempts, last_error) and is retried with backoff; nothing is
skipped, so per-key order holds.

A broker that comes back without what it acknowledged (a memory-only broker restarted, a topic
deleted and recreated) is noticed by `BrokerWatch` (`scifikpi_common.republish`): at activation,
after a failed send, every `check_interval_s`, and whenever an acknowledged offset goes
backwards. The relay then clears `published_at` of the lost topics' retained rows and sends them
again in id order; a topic that does not exist yet holds the relay back until it does (sending
would let the broker auto-create it with the wrong partition count).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from datetime import timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scifikpi_common.events.base import HEADER_CONTENT_TYPE, HEADER_EVENT_ID, HEADER_EVENT_TYPE
from scifikpi_common.logging import get_logger
from scifikpi_common.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_ERRORS,
    OUTBOX_PUBLISHED,
)
from scifikpi_common.outbox import Outbox
from scifikpi_common.republish import (
    OUTBOX_REPUBLISHED,
    BrokerWatch,
    mark_for_republish,
    retained_counts,
)

log = get_logger(__name__)


def make_producer(bootstrap_servers: str, client_id: str) -> AIOKafkaProducer:
    # acks=all: a send counts only once every in-sync replica has it. No idempotent producer:
    # Tansu lacks it, and the inbox makes duplicates harmless anyway.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        linger_ms=2,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        max_backoff_s: float = 30.0,
        retention: timedelta = timedelta(days=7),
        maintenance_interval_s: float = 15.0,
        check_interval_s: float = 5.0,
        watch: BrokerWatch | None = None,
    ) -> None:
        self.engine = engine
        self.outbox = outbox
        self.table = outbox.table
        self.producer = producer
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.max_backoff_s = max_backoff_s
        self.retention = retention
        self.maintenance_interval_s = maintenance_interval_s
        self.check_interval_s = check_interval_s
        self.watch = watch or BrokerWatch(_bootstrap_of(producer))
        self._missing: set[str] = set()
        self._check_now = True
        self._baseline_pending = True
        self.service = outbox.producer
        self._lock_key = zlib.crc32(f"outbox:{self.table.schema}".encode())
        self._wakeup = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; reconnects with backoff on database or broker failures."""
        backoff = 0.5
        while not stop.is_set():
            try:
                await self._run_locked(stop)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_relay_error", error=repr(exc), retry_in_s=backoff)
                await _sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _run_locked(self, stop: asyncio.Event) -> None:
        async with self.engine.connect() as control:
            await self._wait_for_lock(control, stop)
            if stop.is_set():
                return
            raw = (await control.get_raw_connection()).driver_connection
            assert raw is not None  # the asyncpg connection of an open pool connection
            await raw.add_listener(self.outbox.channel, self._on_notify)
            log.info("outbox_relay_active", schema=self.table.schema)
            self._baseline_pending = True  # the loop's first broker check compares row counts
            try:
                await self._loop(control, stop)
            finally:
                self._check_now = True
                await self.watch.close()
                await raw.remove_listener(self.outbox.channel, self._on_notify)
                await control.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._lock_key})
                await control.commit()

    async def _wait_for_lock(self, control: AsyncConnection, stop: asyncio.Event) -> None:
        announced = False
        while not stop.is_set():
            got = (
                await control.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": self._lock_key}
                )
            ).scalar()
            await control.commit()
            if got:
                return
            if not announced:
                log.info("outbox_relay_standby", schema=self.table.schema)
                announced = True
            await _sleep_or_stop(stop, self.poll_interval_s * 2)

    def _on_notify(self, *_: Any) -> None:
        self._wakeup.set()

    async def _loop(self, control: AsyncConnection, stop: asyncio.Event) -> None:
        backoff = 0.0
        next_maintenance = 0.0
        next_check = time.monotonic() + self.check_interval_s
        while not stop.is_set():
            if self._check_now or self._missing or time.monotonic() >= next_check:
                try:
                    await self.check_broker(baseline=self._baseline_pending)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the broker is unreachable: the sends will say so
                    log.warning("outbox_broker_check_failed", error=repr(exc))
                    self._check_now = True
                next_check = time.monotonic() + self.check_interval_s
                if self._missing:
                    await _sleep_or_stop(stop, max(self.poll_interval_s, 0.5))
                    continue
            if time.monotonic() >= next_maintenance:
                await self.maintenance()
                await control.execute(text("SELECT 1"))  # the lock's connection is still alive
                await control.commit()
                next_maintenance = time.monotonic() + self.maintenance_interval_s
            self._wakeup.clear()
            try:
                sent, failed = await self.relay_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                sent, failed = 0, True
                log.warning("outbox_relay_batch_failed", error=repr(exc))
            if failed:
                self._check_now = True  # a broker outage may end with an empty broker
                backoff = min(max(backoff * 2, 0.2), self.max_backoff_s)
                await _sleep_or_stop(stop, backoff)
                continue
            backoff = 0.0
            if sent < self.batch_size:
                waiter = asyncio.ensure_future(self._wakeup.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.poll_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()

    async def relay_once(self) -> tuple[int, bool]:
        """Publish one batch in id order. Returns (rows published, whether a send failed)."""
        t = self.table
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(
                        t.c.id,
                        t.c.event_id,
                        t.c.topic,
                        t.c.key,
                        t.c.event_type,
                        t.c.payload,
                        t.c.headers,
                    )
                    .where(t.c.published_at.is_(None))
                    .order_by(t.c.id)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0, False
            futures = []
            for row in rows:
                headers = [
                    (HEADER_EVENT_ID, str(row.event_id).encode()),
                    (HEADER_EVENT_TYPE, row.event_type.encode()),
                    (HEADER_CONTENT_TYPE, b"application/json"),
                    *((k, str(v).encode()) for k, v in (row.headers or {}).items()),
                ]
                try:
                    futures.append(
                        await self.producer.send(
                            row.topic,
                            value=orjson.dumps(row.payload),
                            key=row.key.encode(),
                            headers=headers,
                        )
                    )
                except Exception as exc:  # could not even enqueue: stop here, keep order
                    futures.append(_failed(exc))
                    break
            results = await asyncio.gather(*futures, return_exceptions=True)
            # Mark the prefix that succeeded; everything from the first failure on is retried,
            # so no event overtakes an earlier one that is still unpublished.
            done: list[int] = []
            failure: BaseException | None = None
            failed_row = None
            for row, result in zip(rows, results, strict=False):
                if isinstance(result, BaseException):
                    failure, failed_row = result, row
                    break
                done.append(row.id)
                if self.watch.observe(result):
                    self._check_now = True  # a new log behind the same topic name
                OUTBOX_PUBLISHED.labels(self.service, row.topic).inc()
            if done:
                await conn.execute(
                    update(t).where(t.c.id.in_(done)).values(published_at=func.now())
                )
            if failed_row is not None:
                OUTBOX_PUBLISH_ERRORS.labels(self.service, failed_row.topic).inc()
                await conn.execute(
                    update(t)
                    .where(t.c.id == failed_row.id)
                    .values(attempts=t.c.attempts + 1, last_error=repr(failure)[:2000])
                )
                log.warning(
                    "outbox_publish_failed", event_id=str(failed_row.event_id), error=repr(failure)
                )
            return len(done), failed_row is not None

    async def check_broker(self, *, baseline: bool = False) -> set[str]:
        """Republish the topics the broker lost; returns them. `baseline` (at activation) also
        compares each topic's message count with the outbox's retained published rows."""
        expected = None
        if baseline:
            async with self.engine.connect() as conn:
                expected = await retained_counts(conn, self.table)
        lost, missing = await self.watch.lost_topics(expected)
        self._check_now = False
        self._baseline_pending = self._baseline_pending and not baseline
        if missing != self._missing:
            if missing:
                log.warning("outbox_topics_missing", topics=sorted(missing))
            self._missing = missing
        if lost:
            async with self.engine.begin() as conn:
                count = await mark_for_republish(conn, self.outbox, lost)
            self.watch.forget(lost)
            OUTBOX_REPUBLISHED.labels(self.service).inc(count)
            log.warning("outbox_broker_lost_topics", topics=sorted(lost), republishing=count)
        return lost

    async def maintenance(self) -> None:
        """Backlog metrics, and pruning of rows published longer ago than the retention."""
        t = self.table
        async with self.engine.begin() as conn:
            count, age = (
                await conn.execute(
                    select(
                        func.count(), func.extract("epoch", func.now() - func.min(t.c.created_at))
                    ).where(t.c.published_at.is_(None))
                )
            ).one()
            await conn.execute(
                delete(t).where(
                    t.c.published_at.is_not(None), t.c.published_at < func.now() - self.retention
                )
            )
        OUTBOX_BACKLOG.labels(self.service).set(count)
        OUTBOX_OLDEST_AGE.labels(self.service).set(float(age or 0))


def _bootstrap_of(producer: Any) -> str | None:
    """The producer's bootstrap servers (aiokafka keeps them on its client)."""
    servers = getattr(getattr(producer, "client", None), "_bootstrap_servers", None)
    if isinstance(servers, (list, tuple)):
        return ",".join(servers)
    return servers if isinstance(servers, str) else None


def _failed(exc: BaseException) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
