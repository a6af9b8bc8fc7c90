"""The projection's SQL (the only place it is written): load and save stepped fact rows, insert
insert-once facts, add merged deltas to the rollups and their all-time totals, bump topic
progress, empty it all.

Multi-row statements are executemany of one cached INSERT: SQLAlchemy's "insertmanyvalues"
sends them as multi-row `INSERT ... VALUES (...), (...) ... ON CONFLICT ... RETURNING` pages of
up to 1,000 rows (compiling a fresh 2,000-row VALUES statement per batch cost more than the
database work).

Every batch runs under one transaction-scoped advisory lock (`lock`): the worker's consumers of
different topics, several worker replicas and `analytics-admin rebuild` may apply batches at the
same time, and a stepped row (an account filled in by four topics) is read, joined and written
back, so two batches must not interleave on it. The rollup cells of the current bucket are hot
rows every batch touches anyway, so the lock costs no real parallelism; it is taken after the
inbox claim, and the holder waits on nothing but projection rows, so it cannot deadlock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ARRAY, Table, any_, bindparam, case, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from analytics import models
from analytics.domain import Delta
from analytics.projection import domain

#: `pg_advisory_xact_lock` key of the projection ("analytics" in ASCII).
LOCK_KEY = 0x616E616C79746963

#: Stepped fact kinds -> their table.
STEPPED: dict[type[Any], Table] = {
    domain.Account: models.accounts,
    domain.Session: models.sessions,
    domain.Purchase: models.purchases,
}
#: Insert-once fact kinds -> their table.
ONCE: dict[type[Any], Table] = {
    domain.Payment: models.payments,
    domain.Acceleration: models.accelerations,
    domain.PointMovement: models.point_movements,
    domain.Transfer: models.transfers,
}
#: Everything `rebuild` empties: the inbox first (see `truncate_all`).
PROJECTION_TABLES = (
    models.inbox,
    models.topic_progress,
    models.rollups,
    models.rollup_totals,
    models.accounts,
    models.payments,
    models.sessions,
    models.accelerations,
    models.point_movements,
    models.purchases,
    models.catalog_items,
    models.transfers,
)

S = TypeVar("S", domain.Account, domain.Session, domain.Purchase)


def _row(fact: object) -> dict[str, Any]:
    return {f.name: getattr(fact, f.name) for f in dataclasses.fields(fact)}  # type: ignore[arg-type]


def _key_columns(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


class ProjectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock(self) -> None:
        """Serialize projection writers for the rest of the transaction."""
        await self.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})

    # --- stepped facts ---

    async def load(self, kind: type[S], keys: Iterable[Any]) -> dict[Any, S]:
        """The stored rows of `kind` among `keys`, by key."""
        table = STEPPED[kind]
        (key,) = _key_columns(table)
        wanted = bindparam("keys", sorted(set(keys)), type_=ARRAY(table.c[key].type))
        result = await self.session.execute(select(table).where(table.c[key] == any_(wanted)))
        return {row[key]: kind(**row) for row in result.mappings()}

    async def save(self, rows: Sequence[domain.Account | domain.Session | domain.Purchase]) -> None:
        """Write stepped rows of one kind as they are now (computed under the lock)."""
        if not rows:
            return
        table = STEPPED[type(rows[0])]
        keys = _key_columns(table)
        values = sorted((_row(r) for r in rows), key=lambda r: [r[k] for k in keys])
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
        )
        await self.session.execute(stmt, values)

    # --- insert-once facts ---

    async def insert_new(
        self,
        facts: Sequence[
            domain.Payment | domain.Acceleration | domain.PointMovement | domain.Transfer
        ],
    ) -> set[Any]:
        """Insert facts of one kind that are not there yet; returns the keys that landed."""
        if not facts:
            return set()
        table = ONCE[type(facts[0])]
        keys = _key_columns(table)
        stmt = insert(table).on_conflict_do_nothing().returning(*(table.c[k] for k in keys))
        result = await self.session.execute(stmt, [_row(f) for f in facts])
        return {row[0] if len(keys) == 1 else tuple(row) for row in result}

    async def save_catalog(self, items: Sequence[domain.CatalogItem]) -> None:
        """Each item's state, unless a later one (by `changed_at`) is stored already; its
        `first_seen_at` is the earliest either way (an older event arriving late lowers it)."""
        table = models.catalog_items
        stmt = insert(table)
        newer = table.c.changed_at <= stmt.excluded.changed_at
        state = {
            c.name: case((newer, stmt.excluded[c.name]), else_=table.c[c.name])
            for c in table.columns
            if c.name not in ("item_id", "first_seen_at")
        }
        stmt = stmt.on_conflict_do_update(
            index_elements=["item_id"],
            set_={
                **state,
                "first_seen_at": func.least(table.c.first_seen_at, stmt.excluded.first_seen_at),
            },
        )
        await self.session.execute(stmt, [_row(i) for i in items])

    # --- rollups and progress ---

    async def add_to_rollups(self, deltas: Sequence[Delta]) -> None:
        """One upsert of the batch's merged cells (sorted: concurrent writers queue on the same
        order), then one of their sums per metric × dimension into `rollup_totals`, in the same
        transaction; a cell or total that a move brought back to 0 is deleted, as if it had never
        been (so a total is present exactly when some cell of it is, and equals their sum)."""
        rows = sorted(
            (
                {
                    "metric": d.metric,
                    "dimension": d.dimension,
                    "bucket_start": d.bucket_start,
                    "value": d.value,
                }
                for d in deltas
            ),
            key=lambda r: (r["metric"], r["dimension"], r["bucket_start"]),
        )
        sums: dict[tuple[str, str], int] = {}
        for d in deltas:
            sums[(d.metric, d.dimension)] = sums.get((d.metric, d.dimension), 0) + d.value
        totals = [
            {"metric": m, "dimension": dim, "value": v} for (m, dim), v in sorted(sums.items()) if v
        ]
        await self._upsert_adding(models.rollups, rows)
        await self._upsert_adding(models.rollup_totals, totals)

    async def _upsert_adding(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """`value = table.value + excluded.value` for each row; the keys left at 0 deleted."""
        if not rows:
            return
        keys = [table.c[k] for k in _key_columns(table)]
        stmt = insert(table)
        upsert = stmt.on_conflict_do_update(
            index_elements=keys, set_={"value": table.c.value + stmt.excluded.value}
        ).returning(*keys, table.c.value)
        result = await self.session.execute(upsert, rows)
        zero = [tuple(r[:-1]) for r in result if r[-1] == 0]
        if zero:
            await self.session.execute(
                table.delete().where(tuple_(*keys).in_(zero)).where(table.c.value == 0)
            )

    async def bump_progress(self, topic: str, events: int, newest: datetime) -> None:
        progress = models.topic_progress
        stmt = insert(progress).values(topic=topic, events_applied=events, newest_event_at=newest)
        stmt = stmt.on_conflict_do_update(
            index_elements=["topic"],
            set_={
                "events_applied": progress.c.events_applied + stmt.excluded.events_applied,
                "newest_event_at": text(
                    "GREATEST(topic_progress.newest_event_at, excluded.newest_event_at)"
                ),
            },
        )
        await self.session.execute(stmt)

    async def progress(self) -> dict[str, tuple[int, datetime]]:
        """topic -> (events applied, newest event's time)."""
        rows = await self.session.execute(select(models.topic_progress))
        return {r.topic: (r.events_applied, r.newest_event_at) for r in rows}

    async def truncate_all(self) -> None:
        """Empty the projection and its inbox. The inbox is locked first: a worker transaction
        that already claimed events holds it and must finish (it can: the projection tables are
        not locked yet) before the rest is taken, so the TRUNCATE never deadlocks with it."""
        names = ", ".join(f"{t.schema}.{t.name}" for t in PROJECTION_TABLES)
        await self.session.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
        await self.session.execute(text(f"TRUNCATE {names}"))
