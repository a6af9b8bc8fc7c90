"""`rollup_totals` (the all-time sum per metric × dimension the summary reads) moves with the
rollups in the same transaction: after journeys, redeliveries, moves between cells and an
emptied-and-replayed projection it is exactly the sum of the 15-minute cells."""

from __future__ import annotations

import random
import uuid

import pytest
from _analytics_helpers import (
    JOURNEY_TOTALS,
    activated,
    apply,
    apply_each,
    assert_totals_match_cells,
    catalog_changed,
    journey,
    registered,
    started,
    stored_totals,
    wrap,
)
from analytics.projection import handlers

pytestmark = pytest.mark.usefixtures("rollup_totals_checked")


async def test_journeys_and_redeliveries_keep_the_totals_the_sum_of_the_cells(
    factory, engine
) -> None:
    item = uuid.uuid4()
    events = [catalog_changed(item, "2026-03-01T09:00")]
    for i in range(3):
        events += journey(uuid.uuid4(), f"2026-03-0{i + 1}T10:00", item=item)
    shuffled = random.Random(5).sample(events, len(events))
    await apply(factory, *shuffled[:20])
    await apply_each(factory, *shuffled[20:])
    await assert_totals_match_cells(engine)
    expected = await stored_totals(engine)
    by_metric: dict[str, int] = {}
    for (metric, _), value in expected.items():
        by_metric[metric] = by_metric.get(metric, 0) + value
    assert by_metric == {m: 3 * v for m, v in JOURNEY_TOTALS.items()}

    again = [(e.TOPIC, wrap(e)) for e in events[:10]]  # the same facts under new event ids
    await apply(factory, *again, *again)
    assert await stored_totals(engine) == expected

    async with factory() as uow:  # what `analytics-admin rebuild` does first
        await handlers.empty_projection(uow)
        await uow.commit()
    assert await stored_totals(engine) == {}
    await apply(factory, *events)
    assert await stored_totals(engine) == expected


async def test_a_total_moved_to_another_dimension_is_deleted_at_zero(factory, engine) -> None:
    user = uuid.uuid4()
    await apply(factory, activated(user, "2026-03-01T10:02"))
    assert await stored_totals(engine) == {("accounts.activated", "account_type=;country="): 1}
    await apply(
        factory, registered(user, "2026-03-01T10:00", account_type="legal_entity", country="RU")
    )
    assert await stored_totals(engine) == {
        ("accounts.activated", "account_type=legal_entity;country=RU"): 1,
        ("accounts.registered", "account_type=legal_entity;country=RU"): 1,
    }


async def test_an_earlier_step_moves_the_cell_and_keeps_the_total(factory, engine) -> None:
    user = uuid.uuid4()
    await apply(factory, started(user, "2026-03-02T10:00"))
    await apply(factory, started(user, "2026-03-01T09:00"))  # another session, earlier
    await apply(factory, registered(user, "2026-03-05T10:00"))
    await apply(factory, registered(user, "2026-03-01T08:00"))  # the same user, earlier
    totals = await stored_totals(engine)
    assert totals[("mining.sessions_started", "")] == 2
    assert totals[("accounts.registered", "account_type=individual;country=DE")] == 1
