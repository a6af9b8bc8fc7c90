"""Hypothesis against real Postgres: whatever the deposits, duration and paid accelerations, the
forecast made at any time before a session ends equals what MiningCompleted credits at its end."""

from __future__ import annotations

import asyncio
import uuid

from _mining_helpers import credited, deliver, outbox, paid, session_row, shift_into_past
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mining import consumers, handlers
from mining.domain import Countdown, NoActiveSession
from mining.models import SCHEMA, make_outbox
from mining.processes import complete_due_once
from mining.schemas import ForecastOut
from mining.settings import MiningSettings
from scifikpi_common.clock import utcnow
from scifikpi_common.db import UnitOfWorkFactory, create_engine, create_sessionmaker
from scifikpi_common.security import Principal


async def _scenario(database_url: str, deposits: int, duration: int, plan: list[tuple[int, int]]):
    config = MiningSettings(
        environment="test",
        database_url=database_url,
        session_duration_s=duration,
        kafka_bootstrap_servers="127.0.0.1:9",
    )
    engine = create_engine(database_url, schema=SCHEMA, application_name="mining.prop", pool_size=2)
    factory = UnitOfWorkFactory(create_sessionmaker(engine), make_outbox())
    user = uuid.uuid4()
    worker_settings = consumers.get_settings
    consumers.get_settings = lambda: config  # the worker's settings for this example
    try:
        await deliver(factory, credited(user, deposits))
        async with factory() as uow:
            principal = Principal(user_id=user, role="user", status="active", token_id=None)
            record = await handlers.start_session(uow, principal, config)
            await uow.commit()
        promised: set[int] = set()

        async def forecast_points() -> None:
            async with factory() as uow:
                f = ForecastOut.of(
                    await handlers.mining_forecast(
                        uow, user, config, days=1, extra_deposit_minor=0, now=utcnow()
                    )
                )
            if f.current_session is not None:
                promised.add(f.current_session.points_at_end_micro)

        for wait_s, seconds in plan:
            await forecast_points()
            row = await session_row(engine, record.id)
            if row.status != "active":
                break
            await shift_into_past(engine, record.id, min(wait_s, duration - row.skipped_s - 1))
            row = await session_row(engine, record.id)
            clock = Countdown(row.started_at, duration, row.skipped_s, row.target_micro)
            left = clock.remaining_s(utcnow())
            if left <= 1:
                break
            try:
                async with factory() as uow:
                    quote = await handlers.create_quote(uow, user, min(seconds, left - 1), config)
                    await uow.commit()
            except NoActiveSession:
                break
            await deliver(factory, paid(user, quote.id, quote.price_minor))
        await forecast_points()
        row = await session_row(engine, record.id)
        if row.status == "active":
            await shift_into_past(engine, record.id, duration)
            await complete_due_once(factory, batch_size=10)
        completed = await outbox(engine, "MiningCompleted")
        [credit] = [e for e in completed if e["session_id"] == str(record.id)]
        assert promised == {credit["points_micro"]}
        assert (
            credit["points_micro"] == config.mining_rate_micro_per_hour(deposits) * duration // 3600
        )
    finally:
        consumers.get_settings = worker_settings
        await engine.dispose()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    deposits=st.integers(0, 200_000),
    duration=st.integers(60, 8 * 3600),
    plan=st.lists(st.tuples(st.integers(0, 3600), st.integers(1, 8 * 3600)), max_size=4),
)
def test_forecast_before_the_end_equals_the_credit(
    migrated_database_url: str, deposits, duration, plan
):
    asyncio.run(_scenario(migrated_database_url, deposits, duration, plan))
