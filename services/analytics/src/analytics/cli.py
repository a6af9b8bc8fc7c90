"""`analytics-admin`: operator commands (JSON on stdout).

analytics-admin rebuild [--batch N]   empty the projection and replay every subscribed topic from
                                      its earliest offset; exit 1 when a partition's history no
                                      longer starts at offset 0 (retention deleted events: the
                                      figures then miss them), 2 when the database or the broker
                                      cannot be reached
analytics-admin lag                   per topic and partition, the `analytics` group's committed
                                      offset against the high watermark, and each topic's
                                      events applied and newest event (`as_of`); exit 2 as above

How `rebuild` stays exact while `analytics-worker` keeps running:

1. one transaction empties every fact table, the rollups and rollup_totals, topic_progress and
   the inbox (the inbox locked first, so a worker transaction that already claimed events
   finishes first and is emptied with the rest; the worker's next batches wait for the
   TRUNCATE and then apply to the empty projection);
2. only then are the high watermarks read (`Watermarks`): every event the worker had applied
   before the TRUNCATE is below them, so nothing emptied is left out of the replay;
3. every partition of every subscribed topic is read with its own consumer (`group_id=None`,
   partitions assigned by hand, no offsets committed: the worker's group is never touched) from
   the earliest offset up to those watermarks, in batches through the SAME
   `consumers.process_batch` the worker uses, hence the same inbox consumer names
   (`analytics.<handler>`). An event between the worker's position and the watermark is then
   seen by both: whichever claims it in the inbox first applies it, the other finds it claimed
   (`duplicate`). Events past the watermarks are the worker's alone. Every event is applied
   once, so the rebuilt figures equal the figures of one pass over the log.

A message the worker dead-lettered (malformed, or failing the handler `max_attempts` times) fails
the same way here; the rebuild counts it under `dead_lettered` and does not send it to the DLQ
again. Events of an unknown type or a newer schema version are skipped (`ignored`), as by the
worker.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from scifikpi_common.db import UnitOfWorkFactory, process_database
from scifikpi_common.logging import configure_logging
from scifikpi_common.messaging import Delivery, PoisonMessage
from scifikpi_common.republish import add_outbox_commands, outbox_main
from sqlalchemy.exc import ArgumentError, DBAPIError

from analytics.consumers import consumers
from analytics.models import make_outbox
from analytics.projection import handlers
from analytics.settings import AnalyticsSettings, get_settings

#: A replay that reads nothing for this long before reaching the watermarks gives up.
STALL_S = 60.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics-admin", description="Operate SciFiKPI analytics."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_outbox_commands(sub)  # outbox status | republish (scifikpi_common.republish)
    rebuild = sub.add_parser("rebuild", help="empty the projection and replay every topic")
    rebuild.add_argument("--batch", type=int, default=2_000, help="events per transaction")
    sub.add_parser("lag", help="how far the analytics group is behind, per topic and partition")
    return parser


def _consumer(settings: AnalyticsSettings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="analytics-admin",
    )


async def _partitions(consumer: AIOKafkaConsumer) -> dict[str, list[TopicPartition]]:
    """Every partition of every subscribed topic (a topic not created yet has none)."""
    await consumer.topics()  # fetch the cluster's metadata
    return {
        topic: [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        for topic in consumers.topics
    }


@dataclass
class Replay:
    """What a replay read and what became of it."""

    started: float = field(default_factory=time.perf_counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    batches: int = 0

    async def apply(self, records: Sequence[Any], factory: UnitOfWorkFactory) -> None:
        """One batch through the worker's path; a message the worker dead-lettered fails again
        (no broker here: PoisonMessage), so the batch is then redone one by one around it."""
        deliveries = [Delivery.of(r) for r in records]
        self.batches += 1
        for d in deliveries:
            self.events[d.topic] += 1
        try:
            results = await consumers.process_batch(deliveries, factory, None)
        except PoisonMessage:
            results = []
            for d in deliveries:
                try:
                    results.append(await consumers.process(d, factory, None))
                except PoisonMessage:
                    results.append(["dead_lettered"])
        for outcomes in results:
            self.outcomes.update(outcomes)


class Watermarks:
    """Where the replay of each partition ends: the larger of ListOffsets' latest offset and the
    high watermark the first fetch of the partition reports, frozen once known. Both are read
    after the TRUNCATE, so either is high enough; a higher one only means more duplicates. (The
    local Tansu broker answers ListOffsets too low after a multi-record batch, while its fetch
    reports the right high watermark; Kafka's two agree.)"""

    def __init__(self, consumer: AIOKafkaConsumer, listed: dict[TopicPartition, int]) -> None:
        self.consumer, self.listed = consumer, listed
        self.frozen: dict[TopicPartition, int] = {}

    def of(self, tp: TopicPartition) -> int | None:
        """The end of `tp`, or None before any fetch of it came back."""
        if tp not in self.frozen:
            fetched = self.consumer.highwater(tp)
            if fetched is None:
                return None
            self.frozen[tp] = max(self.listed.get(tp, 0), fetched)
        return self.frozen[tp]


async def _replay(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    ends: Watermarks,
    factory: UnitOfWorkFactory,
    batch: int,
) -> Replay:
    replay = Replay()
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    pending = set(partitions)  # every one, until a fetch has told its high watermark
    last_read = time.monotonic()
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=1_000, max_records=batch)
        for tp, records in fetched.items():
            end = ends.of(tp)
            wanted = [r for r in records if end is None or r.offset < end]
            if wanted:
                await replay.apply(wanted, factory)
                last_read = time.monotonic()
        for tp in list(pending):
            end = ends.of(tp)
            if end is not None and await consumer.position(tp) >= end:
                pending.discard(tp)
        if pending and time.monotonic() - last_read > STALL_S:
            raise TimeoutError(
                f"replay stalled below the watermarks of {sorted(map(str, pending))}"
            )
    return replay


async def rebuild(settings: AnalyticsSettings, *, batch: int = 2_000) -> dict[str, Any]:
    async with process_database(
        settings.database_url, make_outbox(), name="analytics.admin", pool_size=2
    ) as db:
        consumer = _consumer(settings)
        await consumer.start()
        try:
            by_topic = await _partitions(consumer)
            async with db.uow_factory() as uow:
                await handlers.empty_projection(uow)
                await uow.commit()
            # after the TRUNCATE: everything the worker had applied is below these
            every = [tp for tps in by_topic.values() for tp in tps]
            ends = Watermarks(consumer, await consumer.end_offsets(every) if every else {})
            starts = await consumer.beginning_offsets(every) if every else {}
            replay = await _replay(consumer, every, ends, db.uow_factory, batch)
        finally:
            await consumer.stop()
        async with db.uow_factory() as uow:
            progress = await handlers.progress(uow)
    seconds = time.perf_counter() - replay.started
    truncated = [f"{tp.topic}/{tp.partition}" for tp in every if starts[tp] > 0]
    return {
        "ok": not truncated,
        "history_truncated": truncated,
        "topics": {
            topic: {
                "partitions": [
                    {"partition": tp.partition, "from_offset": starts[tp], "to_offset": ends.of(tp)}
                    for tp in tps
                ],
                "events_read": replay.events[topic],
                "events_applied": progress.get(topic, (0, None))[0],
            }
            for topic, tps in by_topic.items()
        },
        "events_read": sum(replay.events.values()),
        "outcomes": dict(sorted(replay.outcomes.items())),
        "batches": replay.batches,
        "seconds": round(seconds, 3),
        "events_per_s": round(sum(replay.events.values()) / seconds) if seconds > 0 else None,
    }


async def _fetched_ends(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    committed: dict[TopicPartition, int | None],
    starts: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Each partition's high watermark, as `Watermarks` takes it: ListOffsets' answer or what a
    fetch from the group's position reports, the larger (a few records are read, none kept)."""
    listed = await consumer.end_offsets(partitions) if partitions else {}
    ends = Watermarks(consumer, listed)
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, committed[tp] if committed[tp] is not None else starts[tp])
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and any(ends.of(tp) is None for tp in partitions):
        await consumer.getmany(*partitions, timeout_ms=500, max_records=len(partitions))
    return {tp: ends.of(tp) or listed[tp] for tp in partitions}


async def lag(settings: AnalyticsSettings, *, group: str | None = None) -> dict[str, Any]:
    """`group` (the worker's, `analytics`, unless told) against the high watermarks."""
    group = group or consumers.group_id
    consumer = _consumer(settings)
    # a consumer of the group that never subscribes: it only asks the group coordinator for the
    # committed offsets (OffsetFetch) and never joins, so the worker's assignment is untouched
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        client_id="analytics-admin",
    )
    await consumer.start()
    try:
        await reader.start()
        try:
            by_topic = await _partitions(consumer)
            every = [tp for tps in by_topic.values() for tp in tps]
            committed = {tp: await reader.committed(tp) for tp in every}
        finally:
            await reader.stop()
        starts = await consumer.beginning_offsets(every) if every else {}
        ends = await _fetched_ends(consumer, every, committed, starts)
    finally:
        await consumer.stop()
    async with (
        process_database(
            settings.database_url, make_outbox(), name="analytics.admin", pool_size=1
        ) as db,
        db.uow_factory() as uow,
    ):
        progress = await handlers.progress(uow)
    topics: dict[str, Any] = {}
    for topic, tps in by_topic.items():
        rows = []
        for tp in tps:
            offset = committed[tp]
            behind = ends[tp] - (starts[tp] if offset is None else offset)
            rows.append(
                {
                    "partition": tp.partition,
                    "committed": offset,
                    "high_watermark": ends[tp],
                    "lag": max(behind, 0),
                }
            )
        applied, newest = progress.get(topic, (0, None))
        topics[topic] = {
            "lag": sum(r["lag"] for r in rows),
            "partitions": rows,
            "events_applied": applied,
            "newest_event_at": newest.isoformat() if newest else None,
        }
    return {
        "ok": True,
        "group": group,
        "total_lag": sum(t["lag"] for t in topics.values()),
        "topics": topics,
    }


async def _run(args: argparse.Namespace, settings: AnalyticsSettings) -> dict[str, Any]:
    if args.command == "rebuild":
        return await rebuild(settings, batch=args.batch)
    return await lag(settings)


def main(argv: Sequence[str] | None = None, settings: AnalyticsSettings | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "outbox":
        return outbox_main(args, get_settings().database_url, make_outbox())
    settings = settings or get_settings()
    configure_logging("analytics", level="WARNING", fmt="console")
    try:
        result = asyncio.run(_run(args, settings))
    except (OSError, ConnectionError, DBAPIError, ArgumentError, KafkaError) as exc:
        # the database or the broker is unreachable, or the schema is not migrated
        print(orjson.dumps({"ok": False, "error": repr(exc)}).decode(), file=sys.stderr)
        return 2
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    if not result["ok"]:
        for partition in result.get("history_truncated", []):
            print(f"HISTORY-TRUNCATED {partition}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
