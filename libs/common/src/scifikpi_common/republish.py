"""Republishing the retained outbox: after a broker lost its topics, or on an operator's request.

Published rows stay in `<schema>.outbox` for the retention window (`OUTBOX_RETENTION`). To
republish, their `published_at` is cleared: the running relay then sends them again in id order
(the original order, per key too) before anything newer, and consumers drop what they already
applied by the inbox. Nothing here talks to the broker itself except `BrokerWatch`, which the
relay uses to notice a broker that came back without the messages it had acknowledged.

`add_outbox_commands(subparsers)` + `run_outbox_command(args, ...)` mount
`<service>-admin outbox republish --topic T --since 2026-12-07T10:00:00Z` (and `outbox status`)
in every service's argparse CLI; `python -m scifikpi_common.republish --schema S ...` runs the
same commands from any image with only DATABASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import RecordMetadata
from prometheus_client import Counter
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from scifikpi_common.outbox import Outbox

# Here rather than in scifikpi_common.metrics (owned elsewhere at the time of writing).
OUTBOX_REPUBLISHED = Counter(
    "outbox_republished_total",
    "Retained outbox rows queued again because the broker lost their topic",
    ["service"],
)


async def mark_for_republish(
    conn: AsyncConnection,
    outbox: Outbox,
    topics: Iterable[str] | None = None,
    *,
    since: datetime | None = None,
) -> int:
    """Clear `published_at` of retained rows (of `topics`, created at or after `since`) so the
    relay sends them again in id order; wakes the relay. Returns the number of rows."""
    t = outbox.table
    stmt = update(t).where(t.c.published_at.is_not(None)).values(published_at=None)
    if topics is not None:
        stmt = stmt.where(t.c.topic.in_(sorted(set(topics))))
    if since is not None:
        stmt = stmt.where(t.c.created_at >= since)
    count = (await conn.execute(stmt)).rowcount
    await conn.execute(text("SELECT pg_notify(:c, '')"), {"c": outbox.channel})
    return int(count or 0)


async def retained_counts(conn: AsyncConnection, table: Table) -> dict[str, int]:
    """Published rows still retained, per topic: a broker holding fewer messages lost some."""
    rows = await conn.execute(
        select(table.c.topic, func.count())
        .where(table.c.published_at.is_not(None))
        .group_by(table.c.topic)
    )
    return {topic: int(n) for topic, n in rows.all()}


async def outbox_status(engine: AsyncEngine, outbox: Outbox) -> dict[str, Any]:
    """Per topic: retained published rows, pending rows, the oldest retained row's time."""
    t = outbox.table
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                t.c.topic,
                func.count().filter(t.c.published_at.is_not(None)),
                func.count().filter(t.c.published_at.is_(None)),
                func.min(t.c.created_at),
            ).group_by(t.c.topic)
        )
        return {
            topic: {
                "retained": int(retained),
                "pending": int(pending),
                "oldest": oldest.isoformat() if oldest else None,
            }
            for topic, retained, pending, oldest in rows.all()
        }


class BrokerWatch:
    """What the broker acknowledged to this relay, to notice a broker that lost it.

    The evidence, each robust on Tansu as on Kafka:
    - an acknowledged offset at or below one acknowledged before on the same partition (`observe`:
      offsets never repeat in one log, so this is a new log behind the same name);
    - a topic the relay published to (or, at activation, that retained rows say it published
      to) no longer exists;
    - a partition's end offset smaller than the last one seen, or zero where messages were
      acknowledged, or (at activation) a whole topic empty although rows were published to it.
    Not compared: end offsets with acknowledged offsets or row counts (Tansu's ListOffsets
    answers less than the log holds once producers batch), nor the cluster id (Tansu keeps
    `tansu_cluster` across restarts, and aiokafka does not expose it).
    """

    def __init__(self, bootstrap_servers: str | None, *, timeout_s: float = 10.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        self.acked: dict[str, dict[int, int]] = {}
        self.ends: dict[str, dict[int, int]] = {}
        self.regressed: set[str] = set()
        #: lost topics that did not exist when last looked at: sending would auto-create them
        self.awaited: set[str] = set()
        self._client: AIOKafkaConsumer | None = None

    def observe(self, meta: RecordMetadata) -> bool:
        """Record an acknowledged send; True if the partition's offsets started over."""
        parts = self.acked.setdefault(meta.topic, {})
        known = parts.get(meta.partition, -1)
        parts[meta.partition] = max(known, meta.offset)
        if meta.offset <= known:
            self.regressed.add(meta.topic)
            return True
        return False

    def forget(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self.acked.pop(topic, None)
            self.ends.pop(topic, None)
            self.regressed.discard(topic)

    async def lost_topics(
        self, expected: dict[str, int] | None = None
    ) -> tuple[set[str], set[str]]:
        """(topics whose acknowledged messages are gone, lost topics that do not exist yet).

        `expected` (topic -> retained published rows) is what a fresh relay knows: a topic
        that is missing or empty although rows were published to it lost them.
        """
        return await asyncio.wait_for(self._lost_topics(expected or {}), self.timeout_s * 2)

    async def _lost_topics(self, expected: dict[str, int]) -> tuple[set[str], set[str]]:
        client = await self._started()
        inner = client._client  # aiokafka's client: a fresh all-topics metadata request
        fetched = await inner.fetch_all_metadata()
        present = fetched.topics()
        published = {t for t, n in expected.items() if n > 0}
        watched = set(self.acked) | set(self.ends) | published
        lost = set(self.regressed)
        missing = {t for t in watched if t not in present}
        lost |= missing
        self.awaited = {t for t in self.awaited if t not in present} | missing
        for topic in sorted(watched - lost):
            partitions = fetched.partitions_for_topic(topic) or set()
            seen = self.ends.get(topic, {})
            acked = self.acked.get(topic, {})
            if any(p not in partitions for p in (*seen, *acked)):
                lost.add(topic)
                continue
            await inner.add_topic(topic)  # a topic that exists: its partition leaders
            ends = await client.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])
            now = {tp.partition: end for tp, end in ends.items()}
            if (
                any(now.get(p, 0) < end for p, end in seen.items())
                or any(now.get(p, 0) == 0 for p in acked)
                or (topic in published and not any(now.values()))
            ):
                lost.add(topic)
            else:
                self.ends[topic] = now
        return lost, set(self.awaited)

    async def _started(self) -> AIOKafkaConsumer:
        if self._client is None:
            if not self.bootstrap_servers:
                raise RuntimeError("BrokerWatch needs the bootstrap servers")
            client = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap_servers,
                client_id="outbox-relay-watch",
                request_timeout_ms=int(self.timeout_s * 1000),
                enable_auto_commit=False,
            )
            await asyncio.wait_for(client.start(), self.timeout_s)
            self._client = client
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.stop()


# --- the admin command ---------------------------------------------------------------------


def _utc_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time zone (e.g. 2026-12-07T10:00:00Z)")
    return moment.astimezone(UTC)


def add_outbox_commands(sub: Any) -> None:
    """Mount `outbox republish|status` on a CLI's `add_subparsers()` result."""
    outbox = sub.add_parser("outbox", help="the service's outbox: status, republish to the broker")
    cmds = outbox.add_subparsers(dest="outbox_command", required=True)
    cmds.add_parser("status", help="retained and pending rows per topic")
    again = cmds.add_parser(
        "republish",
        help="send retained events again (a lost or recreated topic); consumers dedupe",
    )
    again.add_argument("--topic", action="append", help="a topic (repeatable; default: all)")
    again.add_argument(
        "--since", type=_utc_time, help="rows created at or after this UTC time (ISO-8601)"
    )


async def run_outbox_command(
    args: argparse.Namespace, database_url: str, outbox: Outbox
) -> dict[str, Any]:
    """Run a parsed `outbox ...` command against the service's database; a JSON-able report."""
    from scifikpi_common.db import create_engine

    engine = create_engine(
        database_url,
        schema=outbox.table.schema or outbox.producer,
        application_name=f"{outbox.producer}.admin",
        pool_size=1,
    )
    try:
        if args.outbox_command == "status":
            return {"ok": True, "topics": await outbox_status(engine, outbox)}
        async with engine.begin() as conn:
            count = await mark_for_republish(conn, outbox, args.topic, since=args.since)
        status = await outbox_status(engine, outbox)
        oldest = [v["oldest"] for t, v in status.items() if not args.topic or t in args.topic]
        return {
            "ok": True,
            "republishing": count,
            "topics": args.topic or sorted(status),
            "since": args.since.isoformat() if args.since else None,
            # Anything older than this was pruned (retention) and cannot be republished.
            "oldest_retained": min((o for o in oldest if o), default=None),
        }
    finally:
        await engine.dispose()


def outbox_main(args: argparse.Namespace, database_url: str, outbox: Outbox) -> int:
    """A service CLI's `outbox ...` branch: run it, print the JSON report, the exit code."""
    try:
        result = asyncio.run(run_outbox_command(args, database_url, outbox))
    except (OSError, ConnectionError, DBAPIError, ArgumentError) as exc:
        print(orjson.dumps({"ok": False, "error": repr(exc)}).decode(), file=sys.stderr)
        return 2
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m scifikpi_common.republish --schema S outbox ...` (DATABASE_URL from env)."""
    from scifikpi_common.db import make_metadata
    from scifikpi_common.outbox import outbox_table
    from scifikpi_common.settings import ServiceSettings

    parser = argparse.ArgumentParser(prog="python -m scifikpi_common.republish")
    parser.add_argument("--schema", required=True, help="the service's schema (= its name)")
    add_outbox_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    outbox = Outbox(outbox_table(make_metadata(args.schema)), producer=args.schema)
    return outbox_main(args, ServiceSettings().database_url, outbox)


if __name__ == "__main__":
    sys.exit(main())
