"""Use cases of the projection: apply a batch of one topic's events, empty the projection.

`apply_batch` runs inside the consumer runner's transaction (it never commits): the inbox has
already claimed the batch's event ids, so every item is an event this consumer has not applied.
The batch is turned into facts per kind (delivery order kept within each kind); stepped rows are
loaded, joined with the batch's changes (`domain.fold`) and written back; insert-once facts are
inserted and count only if they landed; the rollups and their all-time totals move by the
merged deltas (one upsert each, same transaction).
Each kind is independent of the others (no rule reads another kind's row), and within a kind
`fold` is the in-order join, so this is the same as applying the events one by one in delivery
order: a `NftPurchaseRequested` and its `NftMinted` in one batch spend the requested price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scifikpi_common.db import UnitOfWork
from scifikpi_common.events.base import Envelope, Event

from analytics.domain import Delta, merge
from analytics.projection import domain
from analytics.projection.repository import ProjectionRepository

Item = tuple[Event, Envelope[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Applied:
    """What one batch did: events applied, facts that landed or moved, rollup cells touched."""

    events: int
    facts: int
    cells: int


async def apply_batch(uow: UnitOfWork, topic: str, items: Sequence[Item]) -> Applied:
    """Apply one topic's fresh events (already claimed in the inbox) to facts and rollups."""
    if not items:
        return Applied(0, 0, 0)
    repo = ProjectionRepository(uow.session)
    await repo.lock()
    changes = domain.changes_of((event, envelope.occurred_at) for event, envelope in items)
    deltas: list[Delta] = []
    facts = 0
    for stepped in (changes.accounts, changes.sessions, changes.purchases):
        moved, n = await _apply_stepped(repo, stepped)
        deltas += moved
        facts += n
    for once in (changes.payments, changes.accelerations, changes.movements, changes.transfers):
        landed, n = await _apply_once(repo, once)
        deltas += landed
        facts += n
    if changes.catalog:
        latest = domain.latest_items(changes.catalog)
        await repo.save_catalog(latest)
        facts += len(latest)
    cells = [d for d in merge(deltas) if d.value != 0]
    if cells:
        await repo.add_to_rollups(cells)
    newest = max(envelope.occurred_at for _, envelope in items)
    await repo.bump_progress(topic, len(items), newest)
    return Applied(len(items), facts, len(cells))


async def _apply_stepped(
    repo: ProjectionRepository,
    changes: list[domain.Account] | list[domain.Session] | list[domain.Purchase],
) -> tuple[list[Delta], int]:
    """Join the changes into the stored rows; the rollups move by what the rows' deltas moved."""
    if not changes:
        return [], 0
    kind = type(changes[0])
    before: dict[Any, Any] = await repo.load(kind, (c.key for c in changes))
    after: dict[Any, Any] = domain.fold(before, changes)
    changed = [row for key, row in after.items() if before.get(key) != row]
    await repo.save(changed)
    return domain.shift(before, {row.key: row for row in changed}), len(changed)


async def _apply_once(
    repo: ProjectionRepository,
    facts: list[domain.Payment]
    | list[domain.Acceleration]
    | list[domain.PointMovement]
    | list[domain.Transfer],
) -> tuple[list[Delta], int]:
    """Insert the facts not stored yet; only those that landed count."""
    if not facts:
        return [], 0
    unique: list[Any] = domain.first_of_each(facts)
    landed = await repo.insert_new(unique)
    return [d for f in unique if f.key in landed for d in f.deltas()], len(landed)


async def empty_projection(uow: UnitOfWork) -> None:
    """Every fact, rollup, topic progress and inbox row gone (the caller commits)."""
    await ProjectionRepository(uow.session).truncate_all()


async def progress(uow: UnitOfWork) -> dict[str, tuple[int, Any]]:
    return await ProjectionRepository(uow.session).progress()
